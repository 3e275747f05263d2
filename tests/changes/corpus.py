# ruff: noqa: E501
"""Labelled corpus of realistic AI edits for the change classifier.

Each :class:`Case` is one file-level edit an AI coding agent makes to a React 19 + Vite +
TypeScript frontend (Tailwind, plain CSS, CSS modules, styled-components, clsx/cn, hooks,
context) or to a Motoko backend for the Internet Computer, together with the class the
classifier must assign and the strategy the default ("plan") policy must pick.

Most code cases are built from a realistic base file plus exactly one deliberate edit
(:func:`_sub` insists the edited text occurs exactly once), so ``old`` and ``new`` differ
only in the edit being labelled. Labels follow the written classification rules, not
intuition: e.g. a ``fetch("/api/...")`` URL is a string literal outside style contexts and
therefore ``content-only``, and a comment-only edit of ``vite.config.ts`` is still
``build-config``.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    id: str  # unique, kebab-case, descriptive
    file: str  # path in the project (the new path for renames)
    old: str | bytes | None  # None = file added
    new: str | bytes | None  # None = file deleted
    cls: str  # expected class
    strategy: str  # expected strategy under the default policy ("plan")
    old_file: str | None = None  # only for renames: the old path


STRATEGY_BY_CLASS: dict[str, str] = {
    "stylesheet": "css-injection",
    "style-only": "preview-update",
    "content-only": "preview-update",
    "formatting": "preview-update",
    "component-structure": "full-deploy",
    "backend": "full-deploy",
    "dependencies": "full-deploy",
    "build-config": "full-deploy",
    "static-asset": "preview-update",
    "added": "full-deploy",
    "deleted": "full-deploy",
    "renamed": "preview-update",
}


def _case(
    id: str,
    file: str,
    old: str | bytes | None,
    new: str | bytes | None,
    cls: str,
    old_file: str | None = None,
) -> Case:
    return Case(id, file, old, new, cls, STRATEGY_BY_CLASS[cls], old_file)


def _sub(text: str, old: str, new: str) -> str:
    """``text`` with its single occurrence of ``old`` replaced by ``new``."""
    found = text.count(old)
    if found != 1:
        raise ValueError(f"expected exactly one {old!r} in the base text, found {found}")
    return text.replace(old, new)


def _move_before(text: str, block: str, anchor: str) -> str:
    """Move ``block`` (cut from where it is) to just before ``anchor``."""
    return _sub(_sub(text, block, ""), anchor, block + anchor)


def _crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def _reindent(text: str, width: int) -> str:
    """Re-indent 2-space-indented text to ``width`` spaces per level (whitespace only)."""
    lines = []
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        levels = (len(line) - len(stripped)) // 2
        lines.append(" " * (levels * width) + stripped)
    return "\n".join(lines)


FE = "src/frontend"
SRC = "src/frontend/src"

# ---------------------------------------------------------------------------------------
# Base files
# ---------------------------------------------------------------------------------------

_HEADER_TSX = """\
import { Link } from "react-router-dom";
import { useAuth } from "../hooks/useAuth";

export function Header() {
  const { user, logout } = useAuth();

  return (
    <header className="sticky top-0 z-10 border-b border-slate-200 bg-white/80 backdrop-blur">
      <div className="mx-auto flex max-w-6xl items-center justify-between px-4 py-3">
        <Link to="/" className="text-lg font-semibold text-slate-900">
          Kontext Notes
        </Link>
        {user ? (
          <button
            onClick={logout}
            className="rounded-md px-3 py-1.5 text-sm text-slate-600 hover:bg-slate-100"
          >
            Sign out
          </button>
        ) : (
          <Link to="/login" className="text-sm font-medium text-indigo-600 hover:text-indigo-500">
            Sign in
          </Link>
        )}
      </div>
    </header>
  );
}
"""

_HERO_TSX = """\
import { useState } from "react";

export default function Hero() {
  const [email, setEmail] = useState("");

  return (
    <section className="bg-gradient-to-b from-indigo-50 to-white py-24">
      <div className="mx-auto max-w-3xl px-6 text-center">
        <h1 className="text-5xl font-bold tracking-tight text-gray-900">
          Plan your week in minutes
        </h1>
        <p className="mt-6 text-lg leading-8 text-gray-600">
          Kontext turns scattered notes into a focused plan you can actually follow.
        </p>
        <form className="mt-10 flex justify-center gap-3" onSubmit={(e) => e.preventDefault()}>
          <input
            type="email"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            placeholder="you@example.com"
            className="w-72 rounded-lg border border-gray-300 px-4 py-2"
          />
          <button type="submit" className="rounded-lg bg-indigo-600 px-5 py-2 font-semibold text-white">
            Get started
          </button>
        </form>
      </div>
    </section>
  );
}
"""

_PRODUCT_CARD_TSX = """\
import clsx from "clsx";
import type { Product } from "../types";

interface ProductCardProps {
  product: Product;
  selected: boolean;
  onSelect: (id: string) => void;
}

export function ProductCard({ product, selected, onSelect }: ProductCardProps) {
  return (
    <article
      className={clsx(
        "rounded-xl border p-4 transition-shadow",
        selected ? "border-indigo-500 shadow-lg" : "border-gray-200 hover:shadow-md",
      )}
    >
      <img src={product.imageUrl} alt="Product photo" className="h-40 w-full rounded-lg object-cover" />
      <h3 className="mt-3 font-medium text-gray-900">{product.name}</h3>
      <p className="text-sm text-gray-500">${product.price.toFixed(2)}</p>
      <button
        aria-label="Add to cart"
        onClick={() => onSelect(product.id)}
        className="mt-4 w-full rounded-md bg-gray-900 py-2 text-sm text-white"
      >
        Add to cart
      </button>
    </article>
  );
}
"""

_BUTTON_TSX = """\
import type { ButtonHTMLAttributes } from "react";
import { cn } from "@/lib/utils";

const buttonStyles = {
  primary: "bg-indigo-600 text-white hover:bg-indigo-500",
  secondary: "bg-white text-gray-900 ring-1 ring-inset ring-gray-300 hover:bg-gray-50",
  danger: "bg-red-600 text-white hover:bg-red-500",
};

type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: keyof typeof buttonStyles;
};

export function Button({ variant = "primary", className, ...props }: ButtonProps) {
  return (
    <button
      className={cn("rounded-md px-3.5 py-2.5 text-sm font-semibold shadow-sm", buttonStyles[variant], className)}
      {...props}
    />
  );
}
"""

_CARD_STYLED_TSX = """\
import { Link } from "react-router-dom";
import styled, { css, keyframes } from "styled-components";

const fadeIn = keyframes`
  from {
    opacity: 0;
    transform: translateY(8px);
  }
  to {
    opacity: 1;
    transform: translateY(0);
  }
`;

const elevated = css`
  box-shadow: 0 10px 15px -3px rgb(0 0 0 / 0.1), 0 4px 6px -4px rgb(0 0 0 / 0.1);
`;

export const Card = styled.div`
  padding: 24px;
  border-radius: 12px;
  background: ${(props) => props.theme.surface};
  animation: ${fadeIn} 240ms ease-out;
  ${elevated}
`;

export const CardLink = styled(Link)`
  color: #4f46e5;
  font-weight: 600;
  text-decoration: none;

  &:hover {
    text-decoration: underline;
  }
`;
"""

_THEME_TS = """\
export const theme = {
  primary: "#2563eb",
  primaryHover: "#1d4ed8",
  surface: "#ffffff",
  border: "#e2e8f0",
  text: "#0f172a",
  radius: 8,
};

export type Theme = typeof theme;
"""

_SIDEBAR_TSX = """\
import { NavLink } from "react-router-dom";

const links = [
  { to: "/", label: "Home" },
  { to: "/projects", label: "Projects" },
  { to: "/settings", label: "Settings" },
];

export function Sidebar() {
  return (
    <nav className="flex w-60 flex-col gap-1 border-r border-gray-200 p-4">
      {links.map((link) => (
        <NavLink
          key={link.to}
          to={link.to}
          className={({ isActive }) =>
            `rounded-md px-3 py-2 text-sm ${isActive ? "bg-gray-100 font-medium text-gray-900" : "text-gray-600 hover:bg-gray-50"}`
          }
        >
          {link.label}
        </NavLink>
      ))}
    </nav>
  );
}
"""

_TODO_LIST_TSX = """\
import { useEffect, useState } from "react";

type Todo = { id: number; title: string; done: boolean };

export function TodoList({ userId, filter }: { userId: number; filter: string }) {
  const [todos, setTodos] = useState<Todo[]>([]);
  const [loading, setLoading] = useState(true);

  useEffect(() => {
    setLoading(true);
    fetch(`/api/users/${userId}/todos?filter=${filter}`)
      .then((res) => res.json())
      .then((data: Todo[]) => setTodos(data))
      .finally(() => setLoading(false));
  }, [userId]);

  if (loading) return <p className="text-sm text-gray-500">Loading...</p>;

  return (
    <ul className="divide-y divide-gray-100">
      {todos.map((todo) => (
        <li key={todo.id} className="flex items-center gap-3 py-3">
          <input type="checkbox" checked={todo.done} readOnly />
          <span className={todo.done ? "text-gray-400 line-through" : "text-gray-900"}>{todo.title}</span>
        </li>
      ))}
    </ul>
  );
}
"""

_COUNTER_TSX = """\
import { useState } from "react";

export function Counter() {
  const [count, setCount] = useState(0);

  return (
    <div className="flex items-center gap-4">
      <button className="rounded bg-gray-200 px-3 py-1" onClick={() => setCount(count - 1)}>
        -
      </button>
      <span className="w-12 text-center text-2xl font-bold tabular-nums">{count}</span>
      <button className="rounded bg-indigo-600 px-3 py-1 text-white" onClick={() => setCount(count + 1)}>
        +
      </button>
    </div>
  );
}
"""

_APP_TSX = """\
import { BrowserRouter, Route, Routes } from "react-router-dom";
import { Footer } from "./components/Footer";
import { Header } from "./components/Header";
import Home from "./pages/Home";
import Settings from "./pages/Settings";
import "./App.css";

export default function App() {
  return (
    <BrowserRouter>
      <div className="app">
        <Header />
        <main className="main">
          <Routes>
            <Route path="/" element={<Home />} />
            <Route path="/settings" element={<Settings />} />
          </Routes>
        </main>
        <Footer />
      </div>
    </BrowserRouter>
  );
}
"""

_APP_TSX_WITH_PROVIDER = """\
import { BrowserRouter, Route, Routes } from "react-router-dom";
import { Footer } from "./components/Footer";
import { Header } from "./components/Header";
import { ThemeProvider } from "./context/ThemeContext";
import Home from "./pages/Home";
import Settings from "./pages/Settings";
import "./App.css";

export default function App() {
  return (
    <ThemeProvider defaultTheme="light">
      <BrowserRouter>
        <div className="app">
          <Header />
          <main className="main">
            <Routes>
              <Route path="/" element={<Home />} />
              <Route path="/settings" element={<Settings />} />
            </Routes>
          </main>
          <Footer />
        </div>
      </BrowserRouter>
    </ThemeProvider>
  );
}
"""

_FEATURES_TSX = """\
import { Bolt, Lock, Sparkles } from "lucide-react";

export function Features() {
  return (
    <section id="features" className="mx-auto grid max-w-6xl gap-8 px-6 py-20 md:grid-cols-3">
      <div className="rounded-2xl border p-6">
        <Bolt className="h-6 w-6 text-indigo-600" />
        <h3 className="mt-4 font-semibold">Instant previews</h3>
        <p className="mt-2 text-sm text-gray-600">See every change the moment it is written.</p>
      </div>
      <div className="rounded-2xl border p-6">
        <Lock className="h-6 w-6 text-indigo-600" />
        <h3 className="mt-4 font-semibold">Private by default</h3>
        <p className="mt-2 text-sm text-gray-600">Your notes stay in your own canister.</p>
      </div>
      <div className="rounded-2xl border p-6">
        <Sparkles className="h-6 w-6 text-indigo-600" />
        <h3 className="mt-4 font-semibold">AI assisted</h3>
        <p className="mt-2 text-sm text-gray-600">Describe a feature and watch it appear.</p>
      </div>
    </section>
  );
}
"""

_FEATURE_CARD_1 = """\
      <div className="rounded-2xl border p-6">
        <Bolt className="h-6 w-6 text-indigo-600" />
        <h3 className="mt-4 font-semibold">Instant previews</h3>
        <p className="mt-2 text-sm text-gray-600">See every change the moment it is written.</p>
      </div>
"""

_FEATURE_CARD_3 = """\
      <div className="rounded-2xl border p-6">
        <Sparkles className="h-6 w-6 text-indigo-600" />
        <h3 className="mt-4 font-semibold">AI assisted</h3>
        <p className="mt-2 text-sm text-gray-600">Describe a feature and watch it appear.</p>
      </div>
"""

_FEATURE_CARD_COMPONENT = """\

function FeatureCard({ icon: Icon, title, children }: { icon: LucideIcon; title: string; children: ReactNode }) {
  return (
    <div className="rounded-2xl border p-6">
      <Icon className="h-6 w-6 text-indigo-600" />
      <h3 className="mt-4 font-semibold">{title}</h3>
      <p className="mt-2 text-sm text-gray-600">{children}</p>
    </div>
  );
}
"""

_FOOTER_TSX = """\
export function Footer() {
  const year = new Date().getFullYear();

  return (
    <footer>
      <div className="mx-auto flex max-w-6xl items-center justify-between px-6 text-sm text-gray-500">
        <p>Copyright {year} Kontext Labs. All rights reserved.</p>
        <a href="https://github.com/kontext-labs/notes" title="Kontext on GitHub" className="hover:text-gray-700">
          GitHub
        </a>
      </div>
    </footer>
  );
}
"""

_PROGRESS_BAR_TSX = """\
type ProgressBarProps = {
  value: number;
  max?: number;
};

export function ProgressBar({ value, max = 100 }: ProgressBarProps) {
  const percent = Math.min(100, Math.round((value / max) * 100));

  return (
    <div className="h-2 w-full overflow-hidden rounded-full bg-gray-200">
      <div
        className="h-full rounded-full transition-all"
        style={{ width: `${percent}%`, backgroundColor: "#4f46e5" }}
      />
    </div>
  );
}
"""

_BADGE_MIN_JSX = """\
export const Badge=({children})=><span className="inline-flex items-center rounded-full bg-green-100 px-2 py-0.5 text-xs font-medium text-green-800">{children}</span>;export const Dot=()=><span className="h-2 w-2 rounded-full bg-green-500"/>;
"""

_USE_SAVE_NOTE_TS = """\
import { toast } from "sonner";
import { backend } from "../lib/backend";

// Persists a note to the backend canister and tells the user how it went.
export function useSaveNote() {
  return async (id: bigint, body: string) => {
    try {
      await backend.updateNote(id, body);
      toast.success("Note saved");
    } catch (err) {
      console.error("updateNote failed", err);
      toast.error("Could not save the note. Please try again.");
    }
  };
}
"""

_CONSTANTS_TS = """\
export const APP_NAME = "Kontext Notes";
export const APP_TAGLINE = "Your second brain, stored on-chain.";
export const SUPPORT_EMAIL = "support@kontext.dev";

/**
 * Notes longer than this are rejected by the backend canister,
 * so the editor stops accepting input at the same limit.
 */
export const MAX_NOTE_LENGTH = 5000;

/** Debounce for autosave, in milliseconds. */
export const AUTOSAVE_DELAY_MS = 800;
"""

_FR_TS = """\
export const fr = {
  welcome: "Bienvenue",
  menu: "Carte du cafe",
  order: "Commander",
  total: "Total",
};
"""

_FR_TS_LATIN1 = b"""\
export const fr = {
  welcome: "Bienvenue",
  menu: "Carte du caf\xe9",
  order: "Commander",
  total: "Total",
};
"""

_NOTE_EDITOR_TSX = """\
import { useState } from "react";
import { Button } from "./Button";
import { useSaveNote } from "@/hooks/useSaveNote";

type NoteEditorProps = {
  noteId: bigint;
  initialBody: string;
  onClose: () => void;
};

export function NoteEditor({ noteId, initialBody, onClose }: NoteEditorProps) {
  const [body, setBody] = useState(initialBody);
  const [saving, setSaving] = useState(false);
  const saveNote = useSaveNote();

  async function handleSave() {
    setSaving(true);
    await saveNote(noteId, body);
    setSaving(false);
    onClose();
  }

  return (
    <div className="flex flex-col gap-3">
      <textarea
        value={body}
        onChange={(e) => setBody(e.target.value)}
        rows={12}
        className="w-full rounded-lg border border-gray-300 p-3 font-mono text-sm"
      />
      <div className="flex justify-end gap-2">
        <Button variant="secondary" onClick={onClose}>
          Cancel
        </Button>
        <Button onClick={handleSave} disabled={saving}>
          {saving ? "Saving..." : "Save"}
        </Button>
      </div>
    </div>
  );
}
"""

_EMPTY_STATE_TSX = """\
import { Inbox } from "lucide-react";
import { Button } from "./Button";

export function EmptyState({ onCreate }: { onCreate: () => void }) {
  return (
    <div className="flex flex-col items-center gap-4 py-16 text-center">
      <Inbox className="h-10 w-10 text-gray-400" />
      <h2 className="text-lg font-semibold text-gray-900">No notes yet</h2>
      <p className="max-w-sm text-sm text-gray-500">Capture your first idea and it will show up here.</p>
      <Button onClick={onCreate}>New note</Button>
    </div>
  );
}
"""

_USE_DEBOUNCE_TS = """\
import { useEffect, useState } from "react";

export function useDebounce<T>(value: T, delay = 300): T {
  const [debounced, setDebounced] = useState(value);

  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), delay);
    return () => clearTimeout(timer);
  }, [value, delay]);

  return debounced;
}
"""

# --- data files --------------------------------------------------------------------------

_EN_JSON = """\
{
  "nav": {
    "home": "Home",
    "projects": "Projects",
    "settings": "Settings"
  },
  "hero": {
    "title": "Plan your week in minutes",
    "subtitle": "Kontext turns scattered notes into a focused plan.",
    "cta": "Get started"
  },
  "errors": {
    "network": "Something went wrong. Check your connection and try again."
  }
}
"""

_FR_JSON = """\
{
  "nav": {
    "home": "Accueil",
    "projects": "Projets",
    "settings": "Parametres"
  },
  "hero": {
    "title": "Planifiez votre semaine en quelques minutes",
    "subtitle": "Kontext transforme vos notes en un plan clair.",
    "cta": "Commencer"
  }
}
"""

_PRODUCTS_JSON = """\
[
  {
    "id": "p-100",
    "name": "Linen Notebook",
    "price": 18.5,
    "imageUrl": "/images/notebook.png"
  },
  {
    "id": "p-101",
    "name": "Brass Pen",
    "price": 42,
    "imageUrl": "/images/pen.png"
  }
]
"""

_FAQ_JSON = """\
[
  {
    "question": "Where are my notes stored?",
    "answer": "In a canister on the Internet Computer that only you control."
  },
  {
    "question": "Can I export my notes?",
    "answer": "Yes, as Markdown from the settings page."
  }
]
"""

# --- stylesheets --------------------------------------------------------------------------

_APP_CSS = """\
.app {
  display: flex;
  min-height: 100vh;
  flex-direction: column;
}

.header {
  display: flex;
  align-items: center;
  justify-content: space-between;
  padding: 16px 24px;
  background-color: #1e293b;
  color: #f8fafc;
}

.header a {
  color: inherit;
  text-decoration: none;
}

.main {
  flex: 1;
  padding: 32px 24px;
}

@media (max-width: 640px) {
  .header {
    padding: 12px 16px;
  }
}
"""

_APP_CSS_HEADER_A = """\
.header a {
  color: inherit;
  text-decoration: none;
}

"""

_APP_CSS_MAIN = """\
.main {
  flex: 1;
  padding: 32px 24px;
}

"""

_INDEX_CSS = """\
@tailwind base;
@tailwind components;
@tailwind utilities;

:root {
  --color-primary: #4f46e5;
  --color-surface: #ffffff;
  --radius: 0.75rem;
}

@layer components {
  .btn-primary {
    @apply rounded-lg bg-indigo-600 px-4 py-2 font-semibold text-white hover:bg-indigo-500;
  }

  .card {
    @apply rounded-2xl border border-gray-200 bg-white p-6 shadow-sm;
  }
}

body {
  font-family: "Inter", system-ui, sans-serif;
  color: #0f172a;
}
"""

_RESET_MIN_CSS = """\
*,::after,::before{box-sizing:border-box;margin:0;padding:0}html{line-height:1.5;-webkit-text-size-adjust:100%}body{min-height:100vh;font-family:system-ui,sans-serif}img,svg{display:block;max-width:100%}button,input,textarea{font:inherit}
"""

_BUTTON_MODULE_CSS = """\
.button {
  display: inline-flex;
  align-items: center;
  gap: 0.5rem;
  border-radius: 0.5rem;
  padding: 0.5rem 1rem;
  font-weight: 600;
}

.primary {
  background-color: #4f46e5;
  color: #ffffff;
}

.primary:hover {
  background-color: #4338ca;
}

.secondary {
  background-color: #ffffff;
  color: #111827;
  border: 1px solid #d1d5db;
}
"""

_CARD_MODULE_SCSS = """\
.card {
  padding: 1.5rem;
  border-radius: 1rem;
  background: white;

  .title {
    font-size: 1.125rem;
    font-weight: 600;
  }

  .meta {
    color: #6b7280;
    font-size: 0.875rem;
  }
}
"""

_CARD_SCSS = """\
$card-radius: 12px;

.card {
  border-radius: $card-radius;
  padding: 1.5rem;
  background: #ffffff;

  &__title {
    font-size: 1.25rem;
    font-weight: 600;
  }

  &:hover {
    box-shadow: 0 4px 12px rgba(0, 0, 0, 0.08);
  }
}
"""

_THEME_LESS = """\
@primary: #4f46e5;
@radius: 8px;

.btn {
  border-radius: @radius;
  background: @primary;
  color: #fff;

  &:hover {
    background: darken(@primary, 8%);
  }
}
"""

_ANIMATIONS_CSS = """\
@keyframes slide-up {
  from {
    opacity: 0;
    transform: translateY(12px);
  }
  to {
    opacity: 1;
    transform: translateY(0);
  }
}

.animate-slide-up {
  animation: slide-up 200ms ease-out both;
}
"""

# --- backend --------------------------------------------------------------------------------

_MAIN_MO = """\
import Array "mo:base/Array";
import Time "mo:base/Time";

actor Notes {
  type Note = {
    id : Nat;
    title : Text;
    body : Text;
    createdAt : Int;
  };

  stable var nextId : Nat = 0;
  stable var notes : [Note] = [];

  // Create a note and return its id.
  public func addNote(title : Text, body : Text) : async Nat {
    let note : Note = {
      id = nextId;
      title = title;
      body = body;
      createdAt = Time.now();
    };
    notes := Array.append(notes, [note]);
    nextId += 1;
    note.id;
  };

  public query func getNotes() : async [Note] {
    notes;
  };

  public query func greet(name : Text) : async Text {
    "Hello, " # name # "! You have " # debug_show (notes.size()) # " notes.";
  };
};
"""

_TYPES_MO = """\
module {
  public type Note = {
    id : Nat;
    title : Text;
    body : Text;
    createdAt : Int;
  };

  public type NoteInput = {
    title : Text;
    body : Text;
  };
};
"""

_LEGACY_MO = """\
import Text "mo:base/Text";

module {
  public func slugify(title : Text) : Text {
    Text.map(title, func(c : Char) : Char { if (c == ' ') '-' else c });
  };
};
"""

_BACKEND_DID = """\
type Note = record {
  id : nat;
  title : text;
  body : text;
  createdAt : int;
};

service : {
  addNote : (text, text) -> (nat);
  getNotes : () -> (vec Note) query;
  greet : (text) -> (text) query;
};
"""

_DFX_JSON = """\
{
  "canisters": {
    "backend": {
      "main": "src/backend/main.mo",
      "type": "motoko"
    },
    "frontend": {
      "dependencies": ["backend"],
      "source": ["src/frontend/dist"],
      "type": "assets",
      "workspace": "frontend"
    }
  },
  "defaults": {
    "build": {
      "args": "",
      "packtool": ""
    }
  },
  "output_env_file": ".env",
  "version": 1
}
"""

_CANISTER_IDS_JSON = """\
{
  "backend": {
    "ic": "u6s2n-gx777-77774-qaaba-cai"
  },
  "frontend": {
    "ic": "uxrrr-q7777-77774-qaaaq-cai"
  }
}
"""

_SEED_NOTES_PY = """\
import subprocess

NOTES = [
    ("Welcome", "This is your first note."),
    ("Shopping", "Milk, eggs, coffee"),
]


def main() -> None:
    for title, body in NOTES:
        subprocess.run(
            ["dfx", "canister", "call", "backend", "addNote", f'("{title}", "{body}")'],
            check=True,
        )


if __name__ == "__main__":
    main()
"""

# --- dependencies -------------------------------------------------------------------------

_PACKAGE_JSON = """\
{
  "name": "kontext-notes-frontend",
  "private": true,
  "version": "0.1.0",
  "type": "module",
  "scripts": {
    "dev": "vite",
    "build": "tsc -b && vite build",
    "preview": "vite preview",
    "lint": "eslint ."
  },
  "dependencies": {
    "@dfinity/agent": "^2.1.3",
    "@dfinity/candid": "^2.1.3",
    "react": "^19.0.0",
    "react-dom": "^19.0.0",
    "react-router-dom": "^7.1.1"
  },
  "devDependencies": {
    "@types/react": "^19.0.2",
    "@types/react-dom": "^19.0.2",
    "@vitejs/plugin-react": "^4.3.4",
    "autoprefixer": "^10.4.20",
    "eslint": "^9.17.0",
    "postcss": "^8.4.49",
    "tailwindcss": "^3.4.17",
    "typescript": "~5.6.2",
    "vite": "^6.0.5"
  }
}
"""

_PACKAGE_LOCK_JSON = """\
{
  "name": "kontext-notes-frontend",
  "version": "0.1.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "node_modules/vite": {
      "version": "6.0.5",
      "resolved": "https://registry.npmjs.org/vite/-/vite-6.0.5.tgz",
      "integrity": "sha512-akD5IAH/ID5imgue2DYhzsEwCi0/4VKY31uhMLEYJwPP4TiUp8pL5PIK+Wo7H8qT8JY9i+pVfPydcFPYD1EL7g==",
      "dev": true,
      "license": "MIT",
      "dependencies": {
        "esbuild": "^0.24.2",
        "postcss": "^8.4.49",
        "rollup": "^4.23.0"
      }
    }
  }
}
"""

_PNPM_LOCK_YAML = """\
lockfileVersion: '9.0'

settings:
  autoInstallPeers: true
  excludeLinksFromLockfile: false

importers:

  .:
    dependencies:
      react:
        specifier: ^19.0.0
        version: 19.0.0
      react-dom:
        specifier: ^19.0.0
        version: 19.0.0(react@19.0.0)

packages:

  react-dom@19.0.0:
    resolution: {integrity: sha512-4GV5sHFG0e/0AD4X+ySy6UJd3jVl1iNsNHdpad0qhABJ11twS3TTBnseqsKurKcsNqCEFeGL3uLpVChpIO3QfQ==}
    peerDependencies:
      react: ^19.0.0

  react@19.0.0:
    resolution: {integrity: sha512-V8AVnmPIICiWpGfm6GLzCR/W5FXLchHop40W4nXBmdlEceh16rCN8O8LNWm5bh5XUX91fh7KpA+W0TgMKmgTpQ==}
    engines: {node: '>=0.10.0'}
"""

_YARN_LOCK = """\
# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.
# yarn lockfile v1


clsx@^2.1.1:
  version "2.1.1"
  resolved "https://registry.yarnpkg.com/clsx/-/clsx-2.1.1.tgz#eed397c9fd8bd882bfb18deab7102049a2f32999"
  integrity sha512-eYm0QWBtUrBWZWG0d386OGAw16Z995PiOVo2B7bjWSbHedGl5e0ZWaq65kOGgUSNesEIDkB9ISbTg/JK9dhCZA==
"""

# --- build config --------------------------------------------------------------------------

_VITE_CONFIG_TS = """\
import { fileURLToPath, URL } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import environment from "vite-plugin-environment";

export default defineConfig({
  build: {
    emptyOutDir: true,
  },
  optimizeDeps: {
    esbuildOptions: {
      define: {
        global: "globalThis",
      },
    },
  },
  server: {
    proxy: {
      "/api": {
        target: "http://127.0.0.1:4943",
        changeOrigin: true,
      },
    },
  },
  plugins: [
    react(),
    environment("all", { prefix: "CANISTER_" }),
    environment("all", { prefix: "DFX_" }),
  ],
  envDir: "../../",
  resolve: {
    alias: [
      {
        find: "@",
        replacement: fileURLToPath(new URL("./src", import.meta.url)),
      },
    ],
  },
});
"""

_TSCONFIG_JSON = """\
{
  "compilerOptions": {
    "target": "ES2020",
    "useDefineForClassFields": true,
    "lib": ["ES2020", "DOM", "DOM.Iterable"],
    "module": "ESNext",
    "skipLibCheck": true,
    "moduleResolution": "bundler",
    "allowImportingTsExtensions": true,
    "isolatedModules": true,
    "moduleDetection": "force",
    "noEmit": true,
    "jsx": "react-jsx",
    "strict": false,
    "noUnusedLocals": true,
    "noUnusedParameters": true,
    "noFallthroughCasesInSwitch": true,
    "baseUrl": ".",
    "paths": {
      "@/*": ["./src/*"]
    }
  },
  "include": ["src"]
}
"""

_INDEX_HTML = """\
<!doctype html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <link rel="icon" type="image/svg+xml" href="/logo.svg" />
    <meta name="viewport" content="width=device-width, initial-scale=1.0" />
    <title>Kontext Notes</title>
  </head>
  <body>
    <div id="root"></div>
    <script type="module" src="/src/main.tsx"></script>
  </body>
</html>
"""

_TAILWIND_CONFIG_JS = """\
/** @type {import('tailwindcss').Config} */
export default {
  content: ["./index.html", "./src/**/*.{js,ts,jsx,tsx}"],
  theme: {
    extend: {
      colors: {
        brand: {
          50: "#eef2ff",
          500: "#6366f1",
          600: "#4f46e5",
        },
      },
      fontFamily: {
        sans: ["Inter", "system-ui", "sans-serif"],
      },
    },
  },
  plugins: [],
};
"""

_POSTCSS_CONFIG_JS = """\
export default {
  plugins: {
    tailwindcss: {},
    autoprefixer: {},
  },
};
"""

_ENV = """\
# DFX CANISTER ENVIRONMENT VARIABLES
DFX_VERSION='0.24.3'
DFX_NETWORK='local'
CANISTER_ID_FRONTEND='bd3sg-teaaa-aaaaa-qaaba-cai'
CANISTER_ID_BACKEND='bkyz2-fmaaa-aaaaa-qaaaq-cai'
CANISTER_ID='bkyz2-fmaaa-aaaaa-qaaaq-cai'
CANISTER_CANDID_PATH='/home/dev/kontext-notes/.dfx/local/canisters/backend/backend.did'
# END DFX CANISTER ENVIRONMENT VARIABLES
"""

_ESLINT_CONFIG_JS = """\
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import reactRefresh from "eslint-plugin-react-refresh";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist"] },
  {
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    files: ["**/*.{ts,tsx}"],
    languageOptions: {
      ecmaVersion: 2020,
      globals: globals.browser,
    },
    plugins: {
      "react-hooks": reactHooks,
      "react-refresh": reactRefresh,
    },
    rules: {
      ...reactHooks.configs.recommended.rules,
      "react-refresh/only-export-components": ["warn", { allowConstantExport: true }],
    },
  },
);
"""

# --- static assets ------------------------------------------------------------------------

_LOGO_SVG = """\
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" fill="none">
  <rect width="32" height="32" rx="8" fill="#4F46E5"/>
  <path d="M10 9v14M10 16l8-7M10 16l8 7" stroke="#fff" stroke-width="2.5" stroke-linecap="round" stroke-linejoin="round"/>
</svg>
"""

_README_MD = """\
# Kontext Notes

A private note-taking app that runs entirely on the Internet Computer.

## Features

- Notes are stored in your own Motoko canister
- Live preview while you edit
- Export to Markdown

## Development

```bash
npm install
dfx start --background
dfx deploy
```
"""

_ROBOTS_TXT = """\
User-agent: *
Allow: /
Sitemap: https://kontext-notes.app/sitemap.xml
"""

_WEBMANIFEST = """\
{
  "name": "Kontext Notes",
  "short_name": "Kontext",
  "icons": [
    { "src": "/icons/icon-192.png", "sizes": "192x192", "type": "image/png" },
    { "src": "/icons/icon-512.png", "sizes": "512x512", "type": "image/png" }
  ],
  "theme_color": "#4f46e5",
  "background_color": "#ffffff",
  "display": "standalone"
}
"""

_HERO_PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
    b"\x1f\xf3\xffa\x00\x00\x00\x1dIDAT8\x8dc\xfc\xcf\xf0\x9f\x81\x12\x80\x89\x81D0j\xc0\xa8"
    b"\x01\xa3\x06\x0c\x13\x03\x00\xa1\x8f\x03\x1f\x95\xc8\x8e\xb4\x00\x00\x00\x00IEND\xaeB`\x82"
)

_HERO_PNG_RECOLORED = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
    b"\x1f\xf3\xffa\x00\x00\x00\x1dIDAT8\x8dc\x9c\xe1\xf2\x9f\x81\x12\x80\x89\x81D0j\xc0\xa8"
    b"\x01\xa3\x06\x0c\x13\x03\x00\x5b\x2e\x04\xa7\x61\x3d\x90\x11\x00\x00\x00\x00IEND\xaeB`\x82"
)

_FAVICON_ICO = (
    b"\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00\x68\x04\x00\x00\x16\x00\x00\x00"
    b"\x28\x00\x00\x00\x10\x00\x00\x00\x20\x00\x00\x00\x01\x00\x20\x00\x00\x00\x00\x00\x00\x04"
    b"\x00\x00\xe5\x46\x4f\xff\xe5\x46\x4f\xff\xe5\x46\x4f\xff\xff\xff\xff\xff\xe5\x46\x4f\xff"
)

_INTER_WOFF2 = (
    b"wOF2\x00\x01\x00\x00\x00\x00\x8c\x14\x00\x12\x00\x00\x00\x01\x9a\x30\x00\x00\x8b\xb0"
    b"\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xfe\x9b\x8d\xcf\xc3"
)

_SCENE_GLB = (
    b"glTF\x02\x00\x00\x00\x3c\x05\x00\x00\x48\x02\x00\x00JSON"
    b'{"asset":{"version":"2.0"}}\x20\x20\x20\x20'
    b"\xa0\x00\x00\x00BIN\x00\x00\x00\x80\x3f\xcd\xcc\x4c\x3e\xff\xfe\x00\x00\x80\xbf"
)

_SCENE_GLB_EDITED = (
    b"glTF\x02\x00\x00\x00\x3c\x05\x00\x00\x48\x02\x00\x00JSON"
    b'{"asset":{"version":"2.0"}}\x20\x20\x20\x20'
    b"\xa0\x00\x00\x00BIN\x00\x00\x00\x80\x3f\x9a\x99\x99\x3e\xff\xfe\x00\x00\x80\xbf"
)

# ---------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------

_STYLESHEET_CASES = [
    _case(
        "css-header-background-color",
        f"{SRC}/App.css",
        _APP_CSS,
        _sub(_APP_CSS, "background-color: #1e293b;", "background-color: #0f172a;"),
        "stylesheet",
    ),
    _case(
        "css-new-footer-rule",
        f"{SRC}/App.css",
        _APP_CSS,
        _sub(
            _APP_CSS,
            "\n@media (max-width: 640px) {",
            "\n.footer {\n  padding: 24px;\n  border-top: 1px solid #e2e8f0;\n  text-align: center;\n}\n\n@media (max-width: 640px) {",
        ),
        "stylesheet",
    ),
    _case(
        "css-removed-header-link-rule",
        f"{SRC}/App.css",
        _APP_CSS,
        _sub(_APP_CSS, _APP_CSS_HEADER_A, ""),
        "stylesheet",
    ),
    _case(
        "css-moved-main-rule-block",
        f"{SRC}/App.css",
        _APP_CSS,
        _move_before(_APP_CSS, _APP_CSS_MAIN, ".header {\n  display: flex;"),
        "stylesheet",
    ),
    _case(
        "css-media-query-breakpoint",
        f"{SRC}/App.css",
        _APP_CSS,
        _sub(_APP_CSS, "@media (max-width: 640px) {", "@media (max-width: 768px) {"),
        "stylesheet",
    ),
    _case(
        "css-crlf-file-padding-change",
        f"{SRC}/App.css",
        _crlf(_APP_CSS),
        _crlf(_sub(_APP_CSS, "  padding: 32px 24px;", "  padding: 48px 32px;")),
        "stylesheet",
    ),
    _case(
        "css-comment-only",
        f"{SRC}/App.css",
        _APP_CSS,
        _sub(_APP_CSS, ".main {\n", "/* Main content grows to push the footer down. */\n.main {\n"),
        "formatting",
    ),
    _case(
        "css-whitespace-reindent",
        f"{SRC}/App.css",
        _APP_CSS,
        _reindent(_APP_CSS, 4),
        "formatting",
    ),
    _case(
        "css-crlf-line-endings-only",
        f"{SRC}/App.css",
        _APP_CSS,
        _crlf(_APP_CSS),
        "formatting",
    ),
    _case(
        "css-tailwind-apply-change",
        f"{SRC}/index.css",
        _INDEX_CSS,
        _sub(
            _INDEX_CSS,
            "@apply rounded-lg bg-indigo-600 px-4 py-2 font-semibold text-white hover:bg-indigo-500;",
            "@apply rounded-full bg-violet-600 px-5 py-2.5 font-semibold text-white shadow hover:bg-violet-500;",
        ),
        "stylesheet",
    ),
    _case(
        "css-variable-primary-color",
        f"{SRC}/index.css",
        _INDEX_CSS,
        _sub(_INDEX_CSS, "--color-primary: #4f46e5;", "--color-primary: #0d9488;"),
        "stylesheet",
    ),
    _case(
        "css-new-font-import",
        f"{SRC}/index.css",
        _INDEX_CSS,
        _sub(
            _INDEX_CSS,
            "@tailwind base;\n",
            '@import url("https://fonts.googleapis.com/css2?family=Inter:wght@400;600;700&display=swap");\n\n@tailwind base;\n',
        ),
        "stylesheet",
    ),
    _case(
        "css-dark-mode-media-block-added",
        f"{SRC}/index.css",
        _INDEX_CSS,
        _INDEX_CSS
        + "\n@media (prefers-color-scheme: dark) {\n  :root {\n    --color-surface: #0f172a;\n  }\n\n  body {\n    color: #e2e8f0;\n  }\n}\n",
        "stylesheet",
    ),
    _case(
        "css-minified-one-line-value",
        f"{SRC}/styles/reset.min.css",
        _RESET_MIN_CSS,
        _sub(_RESET_MIN_CSS, "html{line-height:1.5;", "html{line-height:1.6;"),
        "stylesheet",
    ),
    _case(
        "css-module-class-renamed",
        f"{SRC}/components/Button.module.css",
        _BUTTON_MODULE_CSS,
        _sub(_BUTTON_MODULE_CSS, ".secondary {", ".outline {"),
        "style-only",
    ),
    _case(
        "css-module-class-added",
        f"{SRC}/components/Button.module.css",
        _BUTTON_MODULE_CSS,
        _BUTTON_MODULE_CSS + "\n.danger {\n  background-color: #dc2626;\n  color: #ffffff;\n}\n",
        "style-only",
    ),
    _case(
        "css-module-declaration-change",
        f"{SRC}/components/Button.module.css",
        _BUTTON_MODULE_CSS,
        _sub(_BUTTON_MODULE_CSS, "  border-radius: 0.5rem;", "  border-radius: 9999px;"),
        "style-only",  # Vite updates the importer (the oracle, tests/oracle)
    ),
    _case(
        "css-module-comment-only",
        f"{SRC}/components/Button.module.css",
        _BUTTON_MODULE_CSS,
        _sub(
            _BUTTON_MODULE_CSS,
            ".primary {\n",
            "/* Variants are combined with .button via clsx in Button.tsx */\n.primary {\n",
        ),
        "formatting",
    ),
    _case(
        "scss-module-class-removed",
        f"{SRC}/components/Card.module.scss",
        _CARD_MODULE_SCSS,
        _sub(
            _CARD_MODULE_SCSS,
            "\n  .meta {\n    color: #6b7280;\n    font-size: 0.875rem;\n  }\n",
            "",
        ),
        "style-only",
    ),
    _case(
        "scss-nesting-dark-mode-block",
        f"{SRC}/styles/card.scss",
        _CARD_SCSS,
        _sub(
            _CARD_SCSS,
            "  &:hover {\n",
            "  .dark & {\n    background: #1e293b;\n\n    &__title {\n      color: #f8fafc;\n    }\n  }\n\n  &:hover {\n",
        ),
        "stylesheet",
    ),
    _case(
        "scss-variable-change",
        f"{SRC}/styles/card.scss",
        _CARD_SCSS,
        _sub(_CARD_SCSS, "$card-radius: 12px;", "$card-radius: 16px;"),
        "stylesheet",
    ),
    _case(
        "less-primary-color",
        f"{SRC}/styles/theme.less",
        _THEME_LESS,
        _sub(_THEME_LESS, "@primary: #4f46e5;", "@primary: #db2777;"),
        "stylesheet",
    ),
]

_STYLE_ONLY_CODE_CASES = [
    _case(
        "tsx-classname-swap",
        f"{SRC}/components/Header.tsx",
        _HEADER_TSX,
        _sub(
            _HEADER_TSX,
            'className="text-lg font-semibold text-slate-900"',
            'className="text-xl font-bold text-indigo-700"',
        ),
        "style-only",
    ),
    _case(
        "tsx-tailwind-class-list-change",
        f"{SRC}/components/Hero.tsx",
        _HERO_TSX,
        _sub(
            _HERO_TSX,
            '"bg-gradient-to-b from-indigo-50 to-white py-24"',
            '"bg-gradient-to-br from-violet-100 via-white to-sky-50 py-32 sm:py-40"',
        ),
        "style-only",
    ),
    _case(
        "tsx-add-classname-attribute",
        f"{SRC}/components/Footer.tsx",
        _FOOTER_TSX,
        _sub(
            _FOOTER_TSX, "<footer>", '<footer className="border-t border-gray-200 bg-white py-8">'
        ),
        "style-only",
    ),
    _case(
        "tsx-remove-classname-attribute",
        f"{SRC}/components/Footer.tsx",
        _FOOTER_TSX,
        _sub(_FOOTER_TSX, ' className="hover:text-gray-700"', ""),
        "style-only",
    ),
    _case(
        "tsx-style-object-color",
        f"{SRC}/components/ProgressBar.tsx",
        _PROGRESS_BAR_TSX,
        _sub(_PROGRESS_BAR_TSX, 'backgroundColor: "#4f46e5"', 'backgroundColor: "#16a34a"'),
        "style-only",
    ),
    _case(
        "tsx-style-object-key-added",
        f"{SRC}/components/ProgressBar.tsx",
        _PROGRESS_BAR_TSX,
        _sub(
            _PROGRESS_BAR_TSX,
            'backgroundColor: "#4f46e5" }}',
            'backgroundColor: "#4f46e5", transitionDuration: "300ms" }}',
        ),
        "style-only",
    ),
    _case(
        "tsx-clsx-argument-change",
        f"{SRC}/components/ProductCard.tsx",
        _PRODUCT_CARD_TSX,
        _sub(
            _PRODUCT_CARD_TSX,
            '"border-indigo-500 shadow-lg"',
            '"border-indigo-600 ring-2 ring-indigo-200 shadow-lg"',
        ),
        "style-only",
    ),
    _case(
        "tsx-cn-base-classes-change",
        f"{SRC}/components/Button.tsx",
        _BUTTON_TSX,
        _sub(
            _BUTTON_TSX,
            '"rounded-md px-3.5 py-2.5 text-sm font-semibold shadow-sm"',
            '"rounded-full px-4 py-2 text-sm font-semibold shadow-sm"',
        ),
        "style-only",
    ),
    _case(
        "tsx-button-styles-variant-color",
        f"{SRC}/components/Button.tsx",
        _BUTTON_TSX,
        _sub(
            _BUTTON_TSX,
            'danger: "bg-red-600 text-white hover:bg-red-500"',
            'danger: "bg-rose-600 text-white hover:bg-rose-500"',
        ),
        "style-only",
    ),
    _case(
        "tsx-button-styles-variant-added",
        f"{SRC}/components/Button.tsx",
        _BUTTON_TSX,
        _sub(
            _BUTTON_TSX,
            '  danger: "bg-red-600 text-white hover:bg-red-500",\n',
            '  danger: "bg-red-600 text-white hover:bg-red-500",\n  ghost: "bg-transparent text-gray-700 hover:bg-gray-100",\n',
        ),
        "style-only",
    ),
    _case(
        "tsx-styled-div-padding",
        f"{SRC}/components/Card.tsx",
        _CARD_STYLED_TSX,
        _sub(_CARD_STYLED_TSX, "  padding: 24px;\n", "  padding: 32px;\n"),
        "style-only",
    ),
    _case(
        "tsx-styled-link-color",
        f"{SRC}/components/Card.tsx",
        _CARD_STYLED_TSX,
        _sub(_CARD_STYLED_TSX, "  color: #4f46e5;\n", "  color: #0ea5e9;\n"),
        "style-only",
    ),
    _case(
        "tsx-css-helper-shadow",
        f"{SRC}/components/Card.tsx",
        _CARD_STYLED_TSX,
        _sub(
            _CARD_STYLED_TSX,
            "box-shadow: 0 10px 15px -3px rgb(0 0 0 / 0.1), 0 4px 6px -4px rgb(0 0 0 / 0.1);",
            "box-shadow: 0 20px 25px -5px rgb(0 0 0 / 0.1), 0 8px 10px -6px rgb(0 0 0 / 0.1);",
        ),
        "style-only",
    ),
    _case(
        "tsx-keyframes-offset",
        f"{SRC}/components/Card.tsx",
        _CARD_STYLED_TSX,
        _sub(_CARD_STYLED_TSX, "transform: translateY(8px);", "transform: translateY(16px);"),
        "style-only",
    ),
    _case(
        "ts-theme-primary-color",
        f"{SRC}/theme.ts",
        _THEME_TS,
        _sub(_THEME_TS, 'primary: "#2563eb"', 'primary: "#7c3aed"'),
        "style-only",
    ),
    _case(
        "ts-theme-radius-number",
        f"{SRC}/theme.ts",
        _THEME_TS,
        _sub(_THEME_TS, "  radius: 8,\n", "  radius: 12,\n"),
        "style-only",
    ),
    _case(
        "tsx-map-item-classname",
        f"{SRC}/components/TodoList.tsx",
        _TODO_LIST_TSX,
        _sub(
            _TODO_LIST_TSX,
            '<li key={todo.id} className="flex items-center gap-3 py-3">',
            '<li key={todo.id} className="flex items-center gap-4 rounded-lg px-2 py-4 hover:bg-gray-50">',
        ),
        "style-only",
    ),
    _case(
        "tsx-classname-ternary-branch",
        f"{SRC}/components/TodoList.tsx",
        _TODO_LIST_TSX,
        _sub(
            _TODO_LIST_TSX,
            '"text-gray-400 line-through"',
            '"text-gray-400 line-through decoration-2"',
        ),
        "style-only",
    ),
    _case(
        "tsx-template-literal-classname-static-part",
        f"{SRC}/components/Sidebar.tsx",
        _SIDEBAR_TSX,
        _sub(
            _SIDEBAR_TSX,
            "`rounded-md px-3 py-2 text-sm ${isActive",
            "`rounded-lg px-4 py-2.5 text-sm transition-colors ${isActive",
        ),
        "style-only",
    ),
    _case(
        "jsx-minified-one-line-classname",
        f"{SRC}/components/Badge.jsx",
        _BADGE_MIN_JSX,
        _sub(_BADGE_MIN_JSX, "bg-green-100 px-2", "bg-emerald-100 px-2.5"),
        "style-only",
    ),
]

_CONTENT_CASES = [
    _case(
        "tsx-heading-text",
        f"{SRC}/components/Hero.tsx",
        _HERO_TSX,
        _sub(_HERO_TSX, "Plan your week in minutes", "Turn notes into a weekly plan"),
        "content-only",
    ),
    _case(
        "tsx-paragraph-text",
        f"{SRC}/components/Hero.tsx",
        _HERO_TSX,
        _sub(
            _HERO_TSX,
            "Kontext turns scattered notes into a focused plan you can actually follow.",
            "Kontext collects your scattered notes and turns them into a plan for the week ahead.",
        ),
        "content-only",
    ),
    _case(
        "tsx-button-label",
        f"{SRC}/components/Hero.tsx",
        _HERO_TSX,
        _sub(_HERO_TSX, "            Get started\n", "            Join the waitlist\n"),
        "content-only",
    ),
    _case(
        "tsx-placeholder-attribute",
        f"{SRC}/components/Hero.tsx",
        _HERO_TSX,
        _sub(_HERO_TSX, 'placeholder="you@example.com"', 'placeholder="Enter your work email"'),
        "content-only",
    ),
    _case(
        "tsx-heading-text-and-classname",
        f"{SRC}/components/Hero.tsx",
        _HERO_TSX,
        _sub(
            _sub(_HERO_TSX, "Plan your week in minutes", "Your week, planned"),
            '<h1 className="text-5xl font-bold tracking-tight text-gray-900">',
            '<h1 className="text-6xl font-extrabold tracking-tight text-gray-900">',
        ),
        "content-only",
    ),
    _case(
        "tsx-brand-link-text",
        f"{SRC}/components/Header.tsx",
        _HEADER_TSX,
        _sub(_HEADER_TSX, "          Kontext Notes\n", "          Kontext Journal\n"),
        "content-only",
    ),
    _case(
        "tsx-sign-out-button-label",
        f"{SRC}/components/Header.tsx",
        _HEADER_TSX,
        _sub(_HEADER_TSX, "            Sign out\n", "            Log out\n"),
        "content-only",
    ),
    _case(
        "tsx-image-alt-text",
        f"{SRC}/components/ProductCard.tsx",
        _PRODUCT_CARD_TSX,
        _sub(
            _PRODUCT_CARD_TSX,
            'alt="Product photo"',
            'alt="Photo of the product on a white background"',
        ),
        "content-only",
    ),
    _case(
        "tsx-aria-label",
        f"{SRC}/components/ProductCard.tsx",
        _PRODUCT_CARD_TSX,
        _sub(
            _PRODUCT_CARD_TSX, 'aria-label="Add to cart"', 'aria-label="Add this item to your cart"'
        ),
        "content-only",
    ),
    _case(
        "tsx-title-attribute",
        f"{SRC}/components/Footer.tsx",
        _FOOTER_TSX,
        _sub(_FOOTER_TSX, 'title="Kontext on GitHub"', 'title="View the source code on GitHub"'),
        "content-only",
    ),
    _case(
        "tsx-copyright-text",
        f"{SRC}/components/Footer.tsx",
        _FOOTER_TSX,
        _sub(
            _FOOTER_TSX,
            "Kontext Labs. All rights reserved.",
            "Kontext Labs, Inc. Made on the Internet Computer.",
        ),
        "content-only",
    ),
    _case(
        "ts-string-constant",
        f"{SRC}/lib/constants.ts",
        _CONSTANTS_TS,
        _sub(
            _CONSTANTS_TS,
            '"Your second brain, stored on-chain."',
            '"Notes that live on-chain, not in someone else\'s cloud."',
        ),
        "content-only",
    ),
    _case(
        "ts-toast-message",
        f"{SRC}/hooks/useSaveNote.ts",
        _USE_SAVE_NOTE_TS,
        _sub(
            _USE_SAVE_NOTE_TS, 'toast.success("Note saved");', 'toast.success("All changes saved");'
        ),
        "content-only",
    ),
    _case(
        "tsx-menu-label-in-array",
        f"{SRC}/components/Sidebar.tsx",
        _SIDEBAR_TSX,
        _sub(_SIDEBAR_TSX, 'label: "Projects"', 'label: "Workspaces"'),
        "content-only",
    ),
    _case(
        "tsx-loading-message",
        f"{SRC}/components/TodoList.tsx",
        _TODO_LIST_TSX,
        _sub(_TODO_LIST_TSX, ">Loading...<", ">Loading your tasks...<"),
        "content-only",
    ),
    _case(
        "ts-fetch-url-template-literal",
        f"{SRC}/components/TodoList.tsx",
        _TODO_LIST_TSX,
        _sub(_TODO_LIST_TSX, "fetch(`/api/users/", "fetch(`/api/v2/users/"),
        "content-only",
    ),
    _case(
        "json-locale-strings",
        f"{SRC}/locales/en.json",
        _EN_JSON,
        _sub(_EN_JSON, '"cta": "Get started"', '"cta": "Start planning for free"'),
        "content-only",
    ),
    _case(
        "json-locale-key-added",
        f"{SRC}/locales/en.json",
        _EN_JSON,
        _sub(
            _EN_JSON,
            '"settings": "Settings"\n',
            '"settings": "Settings",\n    "billing": "Billing"\n',
        ),
        "content-only",
    ),
    _case(
        "json-products-price",
        f"{SRC}/data/products.json",
        _PRODUCTS_JSON,
        _sub(_PRODUCTS_JSON, '"price": 18.5,', '"price": 21,'),
        "content-only",
    ),
]

_STRUCTURE_CASES = [
    _case(
        "tsx-onclick-handler-change",
        f"{SRC}/components/Header.tsx",
        _HEADER_TSX,
        _sub(
            _HEADER_TSX,
            "onClick={logout}",
            "onClick={() => logout({ returnTo: window.location.origin })}",
        ),
        "component-structure",
    ),
    _case(
        "tsx-classname-and-onclick-same-line",
        f"{SRC}/components/Counter.tsx",
        _COUNTER_TSX,
        _sub(
            _COUNTER_TSX,
            '<button className="rounded bg-indigo-600 px-3 py-1 text-white" onClick={() => setCount(count + 1)}>',
            '<button className="rounded bg-emerald-600 px-3 py-1 text-white" onClick={() => setCount((c) => c + 1)}>',
        ),
        "component-structure",
    ),
    _case(
        "tsx-counter-increment-step",
        f"{SRC}/components/Counter.tsx",
        _COUNTER_TSX,
        _sub(_COUNTER_TSX, "setCount(count + 1)", "setCount(count + 2)"),
        "component-structure",
    ),
    _case(
        "tsx-new-usestate-hook",
        f"{SRC}/components/Hero.tsx",
        _HERO_TSX,
        _sub(
            _HERO_TSX,
            '  const [email, setEmail] = useState("");\n',
            '  const [email, setEmail] = useState("");\n  const [submitted, setSubmitted] = useState(false);\n',
        ),
        "component-structure",
    ),
    _case(
        "tsx-input-type-attribute",
        f"{SRC}/components/Hero.tsx",
        _HERO_TSX,
        _sub(_HERO_TSX, 'type="email"', 'type="text"'),
        "component-structure",
    ),
    _case(
        "tsx-paragraph-element-added",
        f"{SRC}/components/Hero.tsx",
        _HERO_TSX,
        _sub(
            _HERO_TSX,
            "        </form>\n",
            '        </form>\n        <p className="mt-4 text-xs text-gray-500">No credit card required.</p>\n',
        ),
        "component-structure",
    ),
    _case(
        "tsx-useeffect-deps-change",
        f"{SRC}/components/TodoList.tsx",
        _TODO_LIST_TSX,
        _sub(_TODO_LIST_TSX, "  }, [userId]);", "  }, [userId, filter]);"),
        "component-structure",
    ),
    _case(
        "tsx-import-added",
        f"{SRC}/App.tsx",
        _APP_TSX,
        _sub(
            _APP_TSX,
            'import Settings from "./pages/Settings";\n',
            'import Settings from "./pages/Settings";\nimport { Toaster } from "sonner";\n',
        ),
        "component-structure",
    ),
    _case(
        "tsx-import-removed",
        f"{SRC}/App.tsx",
        _APP_TSX,
        _sub(_APP_TSX, 'import "./App.css";\n', ""),
        "component-structure",
    ),
    _case(
        "tsx-route-added",
        f"{SRC}/App.tsx",
        _APP_TSX,
        _sub(
            _sub(
                _APP_TSX,
                'import Home from "./pages/Home";\n',
                'import Home from "./pages/Home";\nimport NoteView from "./pages/NoteView";\n',
            ),
            '            <Route path="/settings" element={<Settings />} />\n',
            '            <Route path="/notes/:id" element={<NoteView />} />\n            <Route path="/settings" element={<Settings />} />\n',
        ),
        "component-structure",
    ),
    _case(
        "tsx-context-provider-added",
        f"{SRC}/App.tsx",
        _APP_TSX,
        _APP_TSX_WITH_PROVIDER,
        "component-structure",
    ),
    _case(
        "tsx-export-default-change",
        f"{SRC}/components/Button.tsx",
        _BUTTON_TSX,
        _sub(_BUTTON_TSX, "export function Button(", "export default function Button("),
        "component-structure",
    ),
    _case(
        "tsx-new-component-same-file",
        f"{SRC}/components/Features.tsx",
        _FEATURES_TSX,
        _sub(
            _FEATURES_TSX,
            'import { Bolt, Lock, Sparkles } from "lucide-react";\n',
            'import { Bolt, Lock, Sparkles, type LucideIcon } from "lucide-react";\nimport type { ReactNode } from "react";\n',
        )
        + _FEATURE_CARD_COMPONENT,
        "component-structure",
    ),
    _case(
        "tsx-reordered-jsx-blocks",
        f"{SRC}/components/Features.tsx",
        _FEATURES_TSX,
        _move_before(_FEATURES_TSX, _FEATURE_CARD_3, _FEATURE_CARD_1),
        "component-structure",
    ),
    _case(
        "tsx-section-id-attribute",
        f"{SRC}/components/Features.tsx",
        _FEATURES_TSX,
        _sub(_FEATURES_TSX, 'id="features"', 'id="why-kontext"'),
        "component-structure",
    ),
    _case(
        "tsx-prop-added",
        f"{SRC}/components/ProductCard.tsx",
        _PRODUCT_CARD_TSX,
        _sub(
            _sub(
                _PRODUCT_CARD_TSX,
                "  onSelect: (id: string) => void;\n",
                "  onSelect: (id: string) => void;\n  compact?: boolean;\n",
            ),
            "{ product, selected, onSelect }",
            "{ product, selected, onSelect, compact = false }",
        ),
        "component-structure",
    ),
    _case(
        "tsx-type-annotation-change",
        f"{SRC}/components/ProductCard.tsx",
        _PRODUCT_CARD_TSX,
        _sub(
            _PRODUCT_CARD_TSX, "onSelect: (id: string) => void;", "onSelect: (id: bigint) => void;"
        ),
        "component-structure",
    ),
    _case(
        "tsx-number-argument-in-logic",
        f"{SRC}/components/ProductCard.tsx",
        _PRODUCT_CARD_TSX,
        _sub(_PRODUCT_CARD_TSX, "toFixed(2)", "toFixed(0)"),
        "component-structure",
    ),
    _case(
        "tsx-conditional-rendering-change",
        f"{SRC}/components/Header.tsx",
        _HEADER_TSX,
        _sub(_HEADER_TSX, "{user ? (", "{user && !user.isAnonymous ? ("),
        "component-structure",
    ),
    _case(
        "tsx-link-to-attribute",
        f"{SRC}/components/Header.tsx",
        _HEADER_TSX,
        _sub(_HEADER_TSX, 'to="/login"', 'to="/auth/sign-in"'),
        "component-structure",
    ),
    _case(
        "tsx-map-key-change",
        f"{SRC}/components/Sidebar.tsx",
        _SIDEBAR_TSX,
        _sub(_SIDEBAR_TSX, "key={link.to}", "key={link.label}"),
        "component-structure",
    ),
    _case(
        "tsx-href-change",
        f"{SRC}/components/Footer.tsx",
        _FOOTER_TSX,
        _sub(
            _FOOTER_TSX,
            'href="https://github.com/kontext-labs/notes"',
            'href="https://github.com/kontext-labs/kontext-notes"',
        ),
        "component-structure",
    ),
    _case(
        "ts-number-constant-change",
        f"{SRC}/lib/constants.ts",
        _CONSTANTS_TS,
        _sub(_CONSTANTS_TS, "MAX_NOTE_LENGTH = 5000;", "MAX_NOTE_LENGTH = 20000;"),
        "component-structure",
    ),
    _case(
        "ts-rethrow-added",
        f"{SRC}/hooks/useSaveNote.ts",
        _USE_SAVE_NOTE_TS,
        _sub(
            _USE_SAVE_NOTE_TS,
            '      toast.error("Could not save the note. Please try again.");\n',
            '      toast.error("Could not save the note. Please try again.");\n      throw err;\n',
        ),
        "component-structure",
    ),
    _case(
        "ts-not-valid-utf8",
        f"{SRC}/i18n/fr.ts",
        _FR_TS,
        _FR_TS_LATIN1,
        "component-structure",
    ),
]

_FORMATTING_CODE_CASES = [
    _case(
        "tsx-comment-added",
        f"{SRC}/components/Header.tsx",
        _HEADER_TSX,
        _sub(
            _HEADER_TSX,
            "export function Header() {\n",
            "// Sticky top bar shown on every page; the auth button adapts to the session.\nexport function Header() {\n",
        ),
        "formatting",
    ),
    _case(
        "ts-comment-text-changed",
        f"{SRC}/hooks/useSaveNote.ts",
        _USE_SAVE_NOTE_TS,
        _sub(
            _USE_SAVE_NOTE_TS,
            "// Persists a note to the backend canister and tells the user how it went.",
            "// Saves a note via the backend canister's updateNote method and shows a toast.",
        ),
        "formatting",
    ),
    _case(
        "ts-doc-comment-removed",
        f"{SRC}/lib/constants.ts",
        _CONSTANTS_TS,
        _sub(_CONSTANTS_TS, "/** Debounce for autosave, in milliseconds. */\n", ""),
        "formatting",
    ),
    _case(
        "tsx-blank-line-removed",
        f"{SRC}/components/Header.tsx",
        _HEADER_TSX,
        _sub(
            _HEADER_TSX,
            "  const { user, logout } = useAuth();\n\n",
            "  const { user, logout } = useAuth();\n",
        ),
        "formatting",
    ),
    _case(
        "tsx-trailing-whitespace",
        f"{SRC}/components/Header.tsx",
        _HEADER_TSX,
        _sub(_HEADER_TSX, "  return (\n", "  return (   \n"),
        "formatting",
    ),
    _case(
        "tsx-crlf-whole-file",
        f"{SRC}/components/Counter.tsx",
        _COUNTER_TSX,
        _crlf(_COUNTER_TSX),
        "formatting",
    ),
    _case(
        "ts-reindent-four-spaces",
        f"{SRC}/theme.ts",
        _THEME_TS,
        _reindent(_THEME_TS, 4),
        "formatting",
    ),
    _case(
        "tsx-jsx-reflow-img",
        f"{SRC}/components/ProductCard.tsx",
        _PRODUCT_CARD_TSX,
        _sub(
            _PRODUCT_CARD_TSX,
            '      <img src={product.imageUrl} alt="Product photo" className="h-40 w-full rounded-lg object-cover" />\n',
            '      <img\n        src={product.imageUrl}\n        alt="Product photo"\n        className="h-40 w-full rounded-lg object-cover"\n      />\n',
        ),
        "formatting",
    ),
    _case(
        "tsx-jsx-reflow-route",
        f"{SRC}/App.tsx",
        _APP_TSX,
        _sub(
            _APP_TSX,
            '            <Route path="/settings" element={<Settings />} />\n',
            '            <Route\n              path="/settings"\n              element={<Settings />}\n            />\n',
        ),
        "formatting",
    ),
]

_BACKEND_CASES = [
    _case(
        "mo-function-body-change",
        "src/backend/main.mo",
        _MAIN_MO,
        _sub(
            _MAIN_MO,
            "notes := Array.append(notes, [note]);",
            "notes := Array.append([note], notes);",
        ),
        "backend",
    ),
    _case(
        "mo-new-public-func",
        "src/backend/main.mo",
        _MAIN_MO,
        _sub(
            _MAIN_MO,
            "  public query func getNotes()",
            "  public func deleteNote(id : Nat) : async Bool {\n    let before = notes.size();\n    notes := Array.filter<Note>(notes, func(n) { n.id != id });\n    notes.size() < before;\n  };\n\n  public query func getNotes()",
        ),
        "backend",
    ),
    _case(
        "mo-type-field-change",
        "src/backend/main.mo",
        _MAIN_MO,
        _sub(_MAIN_MO, "    createdAt : Int;\n", "    createdAt : Time.Time;\n"),
        "backend",
    ),
    _case(
        "mo-stable-var-added",
        "src/backend/main.mo",
        _MAIN_MO,
        _sub(
            _MAIN_MO,
            "  stable var notes : [Note] = [];\n",
            "  stable var notes : [Note] = [];\n  stable var owner : ?Principal = null;\n",
        ),
        "backend",
    ),
    _case(
        "mo-string-literal-change",
        "src/backend/main.mo",
        _MAIN_MO,
        _sub(_MAIN_MO, '"Hello, " # name', '"Welcome back, " # name'),
        "backend",
    ),
    _case(
        "mo-comment-only",
        "src/backend/main.mo",
        _MAIN_MO,
        _sub(
            _MAIN_MO,
            "// Create a note and return its id.",
            "// Creates a note, appends it to stable storage and returns the new id.",
        ),
        "formatting",
    ),
    _case(
        "mo-block-comment-added",
        "src/backend/main.mo",
        _MAIN_MO,
        _sub(
            _MAIN_MO,
            "  stable var nextId : Nat = 0;\n",
            "  /* Notes live in stable vars so they survive canister upgrades. */\n  stable var nextId : Nat = 0;\n",
        ),
        "formatting",
    ),
    _case(
        "mo-whitespace-only",
        "src/backend/main.mo",
        _MAIN_MO,
        _sub(_MAIN_MO, "    nextId += 1;\n    note.id;\n", "    nextId += 1;\n\n    note.id;\n"),
        "formatting",
    ),
    _case(
        "mo-file-added",
        "src/backend/types.mo",
        None,
        _TYPES_MO,
        "backend",
    ),
    _case(
        "mo-file-deleted",
        "src/backend/legacy.mo",
        _LEGACY_MO,
        None,
        "backend",
    ),
    _case(
        "dfx-json-packtool",
        "dfx.json",
        _DFX_JSON,
        _sub(_DFX_JSON, '"packtool": ""', '"packtool": "mops sources"'),
        "backend",
    ),
    _case(
        "did-method-added",
        "src/declarations/backend/backend.did",
        _BACKEND_DID,
        _sub(
            _BACKEND_DID,
            "  addNote : (text, text) -> (nat);\n",
            "  addNote : (text, text) -> (nat);\n  deleteNote : (nat) -> (bool);\n",
        ),
        "backend",
    ),
    _case(
        "canister-ids-json-change",
        "canister_ids.json",
        _CANISTER_IDS_JSON,
        _sub(_CANISTER_IDS_JSON, "u6s2n-gx777-77774-qaaba-cai", "rrkah-fqaaa-aaaaa-aaaaq-cai"),
        "backend",
    ),
    _case(
        "py-script-string-change",
        "scripts/seed_notes.py",
        _SEED_NOTES_PY,
        _sub(
            _SEED_NOTES_PY,
            '("Shopping", "Milk, eggs, coffee")',
            '("Groceries", "Milk, eggs, coffee, bread")',
        ),
        "backend",
    ),
]

_DEPENDENCY_CASES = [
    _case(
        "pkg-dependency-added",
        f"{FE}/package.json",
        _PACKAGE_JSON,
        _sub(
            _PACKAGE_JSON,
            '    "react-router-dom": "^7.1.1"\n',
            '    "react-router-dom": "^7.1.1",\n    "sonner": "^1.7.1"\n',
        ),
        "dependencies",
    ),
    _case(
        "pkg-version-bump",
        f"{FE}/package.json",
        _PACKAGE_JSON,
        _sub(_PACKAGE_JSON, '"vite": "^6.0.5"', '"vite": "^6.0.7"'),
        "dependencies",
    ),
    _case(
        "pkg-dev-dependency-removed",
        f"{FE}/package.json",
        _PACKAGE_JSON,
        _sub(_PACKAGE_JSON, '    "eslint": "^9.17.0",\n', ""),
        "dependencies",
    ),
    _case(
        "pkg-script-added",
        f"{FE}/package.json",
        _PACKAGE_JSON,
        _sub(
            _PACKAGE_JSON,
            '    "lint": "eslint ."\n',
            '    "lint": "eslint .",\n    "test": "vitest run"\n',
        ),
        "dependencies",
    ),
    _case(
        "pkg-name-change",
        f"{FE}/package.json",
        _PACKAGE_JSON,
        _sub(
            _PACKAGE_JSON, '"name": "kontext-notes-frontend"', '"name": "kontext-journal-frontend"'
        ),
        "build-config",
    ),
    _case(
        "pkg-version-field-change",
        f"{FE}/package.json",
        _PACKAGE_JSON,
        _sub(_PACKAGE_JSON, '"version": "0.1.0"', '"version": "0.2.0"'),
        "build-config",
    ),
    _case(
        "pkg-reformat",
        f"{FE}/package.json",
        _PACKAGE_JSON,
        _reindent(_PACKAGE_JSON, 4),
        "formatting",
    ),
    _case(
        "lock-package-lock-version",
        f"{FE}/package-lock.json",
        _PACKAGE_LOCK_JSON,
        _sub(
            _sub(
                _sub(_PACKAGE_LOCK_JSON, '"version": "6.0.5"', '"version": "6.0.7"'),
                "vite-6.0.5.tgz",
                "vite-6.0.7.tgz",
            ),
            "sha512-akD5IAH/ID5imgue2DYhzsEwCi0/4VKY31uhMLEYJwPP4TiUp8pL5PIK+Wo7H8qT8JY9i+pVfPydcFPYD1EL7g==",
            "sha512-q2a9CkqlAbVCoxe+92mImTzpYt9CNptDL7O8hNU4Z7l8g6vK7Gl3aBsuEBf7o1Hx0p0Uzm1iM1p2YpV2f9fG1Q==",
        ),
        "dependencies",
    ),
    _case(
        "lock-pnpm-dependency-added",
        f"{FE}/pnpm-lock.yaml",
        _PNPM_LOCK_YAML,
        _sub(
            _PNPM_LOCK_YAML,
            "        version: 19.0.0(react@19.0.0)\n",
            "        version: 19.0.0(react@19.0.0)\n      zustand:\n        specifier: ^5.0.2\n        version: 5.0.2(react@19.0.0)\n",
        ),
        "dependencies",
    ),
    _case(
        "lock-yarn-lock-added",
        f"{FE}/yarn.lock",
        None,
        _YARN_LOCK,
        "dependencies",
    ),
]

_BUILD_CONFIG_CASES = [
    _case(
        "vite-plugin-added",
        f"{FE}/vite.config.ts",
        _VITE_CONFIG_TS,
        _sub(
            _sub(
                _VITE_CONFIG_TS,
                'import environment from "vite-plugin-environment";\n',
                'import environment from "vite-plugin-environment";\nimport tsconfigPaths from "vite-tsconfig-paths";\n',
            ),
            "    react(),\n",
            "    react(),\n    tsconfigPaths(),\n",
        ),
        "build-config",
    ),
    _case(
        "vite-server-port-option",
        f"{FE}/vite.config.ts",
        _VITE_CONFIG_TS,
        _sub(
            _VITE_CONFIG_TS,
            "  server: {\n",
            "  server: {\n    port: 3000,\n    strictPort: true,\n",
        ),
        "build-config",
    ),
    _case(
        "vite-proxy-target-change",
        f"{FE}/vite.config.ts",
        _VITE_CONFIG_TS,
        _sub(_VITE_CONFIG_TS, '"http://127.0.0.1:4943"', '"http://127.0.0.1:8080"'),
        "build-config",
    ),
    _case(
        "vite-comment-only",
        f"{FE}/vite.config.ts",
        _VITE_CONFIG_TS,
        _sub(
            _VITE_CONFIG_TS,
            '  envDir: "../../",\n',
            '  // dfx writes .env at the project root, two levels up.\n  envDir: "../../",\n',
        ),
        "build-config",
    ),
    _case(
        "vite-whitespace-only",
        f"{FE}/vite.config.ts",
        _VITE_CONFIG_TS,
        _sub(_VITE_CONFIG_TS, "  },\n  server: {\n", "  },\n\n  server: {\n"),
        "build-config",  # Vite restarts on any write of its config (the oracle, tests/oracle)
    ),
    _case(
        "tsconfig-strict-enabled",
        f"{FE}/tsconfig.json",
        _TSCONFIG_JSON,
        _sub(_TSCONFIG_JSON, '"strict": false,', '"strict": true,'),
        "build-config",
    ),
    _case(
        "html-title-change",
        f"{FE}/index.html",
        _INDEX_HTML,
        _sub(
            _INDEX_HTML,
            "<title>Kontext Notes</title>",
            "<title>Kontext Notes - Plan your week</title>",
        ),
        "build-config",
    ),
    _case(
        "html-script-tag-added",
        f"{FE}/index.html",
        _INDEX_HTML,
        _sub(
            _INDEX_HTML,
            "  </head>\n",
            '    <script defer data-domain="kontext-notes.app" src="https://plausible.io/js/script.js"></script>\n  </head>\n',
        ),
        "build-config",
    ),
    _case(
        "tailwind-content-path",
        f"{FE}/tailwind.config.js",
        _TAILWIND_CONFIG_JS,
        _sub(
            _TAILWIND_CONFIG_JS,
            '"./src/**/*.{js,ts,jsx,tsx}"]',
            '"./src/**/*.{js,ts,jsx,tsx}", "./src/**/*.mdx"]',
        ),
        "build-config",
    ),
    _case(
        "tailwind-theme-color",
        f"{FE}/tailwind.config.js",
        _TAILWIND_CONFIG_JS,
        _sub(_TAILWIND_CONFIG_JS, '600: "#4f46e5"', '600: "#7c3aed"'),
        "build-config",
    ),
    _case(
        "postcss-plugin-added",
        f"{FE}/postcss.config.js",
        _POSTCSS_CONFIG_JS,
        _sub(
            _POSTCSS_CONFIG_JS,
            "    tailwindcss: {},\n",
            '    "tailwindcss/nesting": {},\n    tailwindcss: {},\n',
        ),
        "build-config",
    ),
    _case(
        "env-var-change",
        ".env",
        _ENV,
        _sub(_ENV, "DFX_NETWORK='local'", "DFX_NETWORK='ic'"),
        "build-config",
    ),
    _case(
        "env-local-added",
        f"{FE}/.env.local",
        None,
        "VITE_API_BASE_URL=http://localhost:4943\nVITE_FEATURE_FLAGS=notes,search\n",
        "build-config",
    ),
    _case(
        "eslint-rule-added",
        f"{FE}/eslint.config.js",
        _ESLINT_CONFIG_JS,
        _sub(
            _ESLINT_CONFIG_JS,
            '      "react-refresh/only-export-components": ["warn", { allowConstantExport: true }],\n',
            '      "react-refresh/only-export-components": ["warn", { allowConstantExport: true }],\n      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],\n',
        ),
        "build-config",
    ),
]

_STATIC_ASSET_CASES = [
    _case(
        "png-bytes-changed",
        f"{FE}/public/images/hero.png",
        _HERO_PNG,
        _HERO_PNG_RECOLORED,
        "static-asset",
    ),
    _case(
        "svg-fill-edited",
        f"{FE}/public/logo.svg",
        _LOGO_SVG,
        _sub(_LOGO_SVG, 'fill="#4F46E5"', 'fill="#0D9488"'),
        "static-asset",
    ),
    _case(
        "favicon-added",
        f"{FE}/public/favicon.ico",
        None,
        _FAVICON_ICO,
        "static-asset",
    ),
    _case(
        "readme-text-change",
        "README.md",
        _README_MD,
        _sub(_README_MD, "- Export to Markdown\n", "- Export to Markdown and PDF\n"),
        "static-asset",
    ),
    _case(
        "robots-txt-change",
        f"{FE}/public/robots.txt",
        _ROBOTS_TXT,
        _sub(_ROBOTS_TXT, "Allow: /\n", "Allow: /\nDisallow: /settings\n"),
        "static-asset",
    ),
    _case(
        "webmanifest-theme-color",
        f"{FE}/public/site.webmanifest",
        _WEBMANIFEST,
        _sub(_WEBMANIFEST, '"theme_color": "#4f46e5"', '"theme_color": "#0d9488"'),
        "static-asset",
    ),
    _case(
        "font-file-added",
        f"{FE}/public/fonts/Inter-Variable.woff2",
        None,
        _INTER_WOFF2,
        "static-asset",
    ),
    _case(
        "image-deleted",
        f"{FE}/public/images/hero.png",
        _HERO_PNG,
        None,
        "static-asset",
    ),
    _case(
        "binary-unknown-extension-changed",
        f"{FE}/public/models/scene.glb",
        _SCENE_GLB,
        _SCENE_GLB_EDITED,
        "static-asset",
    ),
]

_DATA_FORMATTING_CASES = [
    _case(
        "json-locale-reindent",
        f"{SRC}/locales/en.json",
        _EN_JSON,
        _reindent(_EN_JSON, 4),
        "formatting",
    ),
]

_ADDED_CASES = [
    _case(
        "tsx-component-added", f"{SRC}/components/EmptyState.tsx", None, _EMPTY_STATE_TSX, "added"
    ),
    _case("ts-hook-added", f"{SRC}/hooks/useDebounce.ts", None, _USE_DEBOUNCE_TS, "added"),
    _case("css-file-added", f"{SRC}/styles/animations.css", None, _ANIMATIONS_CSS, "added"),
    _case("json-data-file-added", f"{SRC}/data/faq.json", None, _FAQ_JSON, "added"),
    _case("json-locale-added", f"{SRC}/locales/fr.json", None, _FR_JSON, "added"),
]

_DELETED_CASES = [
    _case("tsx-component-deleted", f"{SRC}/components/Counter.tsx", _COUNTER_TSX, None, "deleted"),
    _case(
        "css-module-deleted",
        f"{SRC}/components/Button.module.css",
        _BUTTON_MODULE_CSS,
        None,
        "deleted",
    ),
    _case("json-data-file-deleted", f"{SRC}/data/products.json", _PRODUCTS_JSON, None, "deleted"),
]

_RENAMED_CASES = [
    _case(
        "tsx-renamed-identical",
        f"{SRC}/components/ui/ProgressBar.tsx",
        _PROGRESS_BAR_TSX,
        _PROGRESS_BAR_TSX,
        "renamed",
        old_file=f"{SRC}/components/ProgressBar.tsx",
    ),
    _case(
        "tsx-renamed-import-path-fixed",
        f"{SRC}/components/notes/NoteEditor.tsx",
        _NOTE_EDITOR_TSX,
        _sub(
            _NOTE_EDITOR_TSX,
            'import { Button } from "./Button";',
            'import { Button } from "../Button";',
        ),
        "renamed",
        old_file=f"{SRC}/components/NoteEditor.tsx",
    ),
    _case(
        "css-renamed-identical",
        f"{SRC}/styles/app.css",
        _APP_CSS,
        _APP_CSS,
        "renamed",
        old_file=f"{SRC}/App.css",
    ),
]

# Framework component files (issue 33): Vue and Svelte SFCs as create-vite's templates write
# them, an Astro page as Astro's docs do.
_VUE_SFC = """<script setup lang="ts">
import { ref } from 'vue'

defineProps<{ msg: string }>()

const count = ref(0)
</script>

<template>
  <h1>{{ msg }}</h1>

  <div class="card">
    <button type="button" @click="count++">count is {{ count }}</button>
    <p>
      Edit
      <code>components/HelloWorld.vue</code> to test HMR
    </p>
  </div>
</template>

<style scoped>
.read-the-docs {
  color: #888;
}
</style>
"""
_SVELTE_SFC = """<script lang="ts">
  let count: number = $state(0)
  const increment = () => {
    count += 1
  }
</script>

<h1 class="title">Vite + Svelte</h1>
<button onclick={increment}>
  count is {count}
</button>
<p class="read-the-docs">Click on the Vite and Svelte logos to learn more</p>

<style>
  .read-the-docs {
    color: #888;
  }
</style>
"""
_ASTRO_PAGE = """---
import Layout from '../layouts/Layout.astro';
const title = 'Welcome';
---

<Layout>
	<main class="page">
		<h1>{title}</h1>
		<p>Edit <code>src/pages/index.astro</code> to start.</p>
	</main>
</Layout>

<style>
	main { margin: auto; }
</style>
"""

_COMPONENT_FILE_CASES = [
    _case(
        "vue-sfc-template-text",
        f"{SRC}/components/HelloWorld.vue",
        _VUE_SFC,
        _sub(_VUE_SFC, "to test HMR", "to see it change"),
        "content-only",
    ),
    _case(
        "vue-sfc-scoped-style",
        f"{SRC}/components/HelloWorld.vue",
        _VUE_SFC,
        _sub(_VUE_SFC, "color: #888;", "color: #0d9488;"),
        "style-only",
    ),
    _case(
        "vue-sfc-class-attribute",
        f"{SRC}/components/HelloWorld.vue",
        _VUE_SFC,
        _sub(_VUE_SFC, 'class="card"', 'class="card shadow"'),
        "style-only",
    ),
    _case(
        "vue-sfc-script-state",
        f"{SRC}/components/HelloWorld.vue",
        _VUE_SFC,
        _sub(_VUE_SFC, "ref(0)", "ref(10)"),
        "component-structure",
    ),
    _case(
        "vue-sfc-template-expression",
        f"{SRC}/components/HelloWorld.vue",
        _VUE_SFC,
        _sub(_VUE_SFC, "count is {{ count }}", "count is {{ count * 2 }}"),
        "component-structure",
    ),
    _case(
        "vue-sfc-event-handler",
        f"{SRC}/components/HelloWorld.vue",
        _VUE_SFC,
        _sub(_VUE_SFC, '@click="count++"', '@click="count--"'),
        "component-structure",
    ),
    _case(
        "vue-sfc-reindented",
        f"{SRC}/components/HelloWorld.vue",
        _VUE_SFC,
        _VUE_SFC.replace("\n  ", "\n    "),
        "formatting",
    ),
    _case(
        "svelte-text",
        f"{SRC}/App.svelte",
        _SVELTE_SFC,
        _sub(_SVELTE_SFC, "Vite + Svelte", "Hello Svelte"),
        "content-only",
    ),
    _case(
        "svelte-style-block",
        f"{SRC}/App.svelte",
        _SVELTE_SFC,
        _sub(_SVELTE_SFC, "color: #888;", "color: rgb(0, 0, 255);"),
        "style-only",
    ),
    _case(
        "svelte-new-element",
        f"{SRC}/App.svelte",
        _SVELTE_SFC,
        _sub(_SVELTE_SFC, "<p class=", "<hr />\n<p class="),
        "component-structure",
    ),
    _case(
        "svelte-rune",
        f"{SRC}/App.svelte",
        _SVELTE_SFC,
        _sub(_SVELTE_SFC, "$state(0)", "$state(1)"),
        "component-structure",
    ),
    _case(
        "astro-markup-text",
        f"{SRC}/pages/index.astro",
        _ASTRO_PAGE,
        _sub(_ASTRO_PAGE, "to start.", "to begin."),
        "content-only",
    ),
    _case(
        "astro-frontmatter",
        f"{SRC}/pages/index.astro",
        _ASTRO_PAGE,
        _sub(_ASTRO_PAGE, "'Welcome'", "'Hello'"),
        "component-structure",
    ),
    _case(
        "astro-style",
        f"{SRC}/pages/index.astro",
        _ASTRO_PAGE,
        _sub(_ASTRO_PAGE, "margin: auto;", "margin: 0 auto;"),
        "style-only",
    ),
    _case(
        "astro-config-integration",
        "astro.config.mjs",
        "import { defineConfig } from 'astro/config';\n\nexport default defineConfig({});\n",
        "import { defineConfig } from 'astro/config';\nimport react from '@astrojs/react';\n\n"
        "export default defineConfig({ integrations: [react()] });\n",
        "build-config",
    ),
    _case(
        "svelte-markup-comment",
        f"{SRC}/App.svelte",
        _SVELTE_SFC + "<!-- counter -->\n",
        _SVELTE_SFC + "<!-- the counter, kept -->\n",
        "formatting",
    ),
    _case(
        "svelte-component-added",
        f"{SRC}/lib/Counter.svelte",
        None,
        _SVELTE_SFC,
        "added",
    ),
]

CASES: list[Case] = [
    *_STYLESHEET_CASES,
    *_STYLE_ONLY_CODE_CASES,
    *_CONTENT_CASES,
    *_STRUCTURE_CASES,
    *_FORMATTING_CODE_CASES,
    *_BACKEND_CASES,
    *_DEPENDENCY_CASES,
    *_BUILD_CONFIG_CASES,
    *_STATIC_ASSET_CASES,
    *_DATA_FORMATTING_CASES,
    *_ADDED_CASES,
    *_DELETED_CASES,
    *_RENAMED_CASES,
    *_COMPONENT_FILE_CASES,
]

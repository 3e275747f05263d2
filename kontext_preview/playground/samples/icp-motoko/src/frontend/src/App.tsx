import { useState } from "react";

// In the live preview the canister is not deployed: the greeting is made here. A full
// deployment (an edit of src/backend/main.mo) checks and builds the whole app.
export default function App() {
  const [name, setName] = useState("");
  const [greeting, setGreeting] = useState("");
  return (
    <main>
      <h1 id="title">Greetings on the Internet Computer</h1>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          setGreeting(`Hello, ${name || "world"}!`);
        }}
      >
        <input value={name} onChange={(e) => setName(e.target.value)} placeholder="Your name" />
        <button type="submit">Greet</button>
      </form>
      <p id="greeting">{greeting}</p>
    </main>
  );
}

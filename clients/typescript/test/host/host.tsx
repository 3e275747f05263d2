// A chat's page as the component's test sees it (tests/clients/test_preview_frame.py): on
// another origin than the API, holding only a browser token (from its URL), never the key.
// What the component hands the chat lands in window.chat for the test to read.
import { createRoot } from "react-dom/client";
import { KontextClient } from "../../src/index.js";
import { PreviewFrame, type PreviewError } from "../../src/react.js";

const params = new URLSearchParams(location.search);
const chat = {
  applied: [] as Record<string, unknown>[],
  errors: [] as PreviewError[],
  restoreAsked: 0,
  restored: () => {},
};
Object.assign(window, { chat });

const client = new KontextClient({ baseUrl: params.get("api") ?? "", credential: params.get("token") ?? "" });
createRoot(document.getElementById("root")!).render(
  <PreviewFrame
    client={client}
    sessionId={params.get("session") ?? ""}
    title="The app"
    onApplied={(applied) => chat.applied.push(applied)}
    onError={(error) => chat.errors.push(error)}
    onRestore={() =>
      new Promise<void>((resolve) => {
        chat.restoreAsked += 1; // the chat's backend restores the session (the test does)
        chat.restored = resolve;
      })
    }
    style={{ height: "100%" }}
  />,
);

import { useState } from "react";

export default function App() {
  const [count, setCount] = useState(0);
  return (
    <main>
      <h1 id="title">Hello from the playground</h1>
      <p>Edit this file or index.css, then press “Send update”: the count stays as it is.</p>
      <button id="counter" onClick={() => setCount((c) => c + 1)}>
        count is {count}
      </button>
    </main>
  );
}

// ESLint for the agent and its page client, run from the agent's folder:
//   tools/node_modules/.bin/eslint --config tools/eslint.config.js .
// (make lint and tests/sandbox/test_protocol.py run it): the recommended rules, Node's
// globals for the agent, the browser's for page/.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/", "tools/node_modules/", "protocol.validate.mjs"] },
  js.configs.recommended,
  { files: ["**/*.mjs", "tools/*.js"], languageOptions: { globals: { ...globals.node } } },
  { files: ["page/**/*.js"], languageOptions: { sourceType: "module", globals: { ...globals.browser } } },
  { files: ["page/watchdog.js"], languageOptions: { sourceType: "script" } },
  {
    rules: {
      "no-unused-vars": ["error", { caughtErrors: "none" }],
      "no-empty": ["error", { allowEmptyCatch: true }],
    },
  },
];

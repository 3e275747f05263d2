// Which package manager a project was made with, by package-manager-detector's rules (its
// lockfile, else its package.json's packageManager or devEngines field; a lockfile's manager
// gives way to the packageManager field beside it), looked for from the install root up to
// the project's root and no further.
//   node detect.mjs '{"cwd": "<install root>", "stop": "<project root>"}'
// prints {"name": "npm"|"yarn"|"pnpm"|"bun"|..., "agent": "yarn@berry"|..., "version": ...} or null.
import fs from "node:fs";
import path from "node:path";
import { detect } from "package-manager-detector/detect";

const { cwd, stop } = JSON.parse(process.argv[2]);
const found = await detect({ cwd, stopDir: stop });
// A yarn.lock that Yarn 2+ wrote starts its entries with a __metadata block; Yarn 1 cannot
// read it (the detector names a plain "yarn" when no packageManager field says the version).
if (found?.agent === "yarn") {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const lock = path.join(dir, "yarn.lock");
    if (fs.existsSync(lock)) {
      if (/^__metadata:/m.test(fs.readFileSync(lock, "utf8"))) found.agent = "yarn@berry";
      break;
    }
    if (dir === path.resolve(stop) || dir === path.dirname(dir)) break;
  }
}
process.stdout.write(JSON.stringify(found ?? null));

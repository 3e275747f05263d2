#!/usr/bin/env bash
# Builds the sandbox image's base where no image registry is reachable: a root file system
# holding only this machine's Node.js (with the shared libraries it and the template's native
# addons link), npm, CA certificates and minimal /etc files, imported as an image. No shell,
# no package manager. Run it after `make template`.
#   sandbox-images/build-local-base.sh [tag]     (default kontext-node-base:local)
set -euo pipefail
tag="${1:-kontext-node-base:local}"
node="$(readlink -f "$(command -v node)")"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"  # …/node_modules/npm
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{usr/local/bin,usr/local/lib/node_modules,etc/ssl/certs,tmp,home/sandbox}
chmod 1777 "$root/tmp"
cp "$node" "$root/usr/local/bin/node"
cp -r "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
# The shared libraries Node links, and those the templates' native addons (Rolldown's
# binding, SWC's, Tailwind 4's oxide and lightningcss, say) link.
here="$(cd "$(dirname "$0")" && pwd)"
addons=$(find "$here/template/node_modules" "$here"/stacks/*/node_modules -name '*.node' -type f 2>/dev/null || true)
# bun (a project with a bun lockfile installs with it) links libraries of its own too.
addons="$addons $(ls "$here"/managers/node_modules/@oven/bun-linux-x64/bin/bun 2>/dev/null || true)"
libs=$(ldd "$node" $addons 2>/dev/null | grep -o '/[^ ]*\.so[^ ]*' | sort -u)
# The same Node and libraries as the image already built: nothing to do (a new stack
# template whose addon links another library makes a new base).
digest=$( { node --version; npm --version; echo "$libs"; } | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{ index .Config.Labels "kontext.base-digest" }}' "$tag" 2>/dev/null)" = "$digest" ]; then
  echo "$tag is up to date"; exit 0
fi
for lib in $libs; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
# Name lookups (npm reaches the registry) and TLS.
for lib in /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libnss_files.so.2 \
           /lib/x86_64-linux-gnu/libresolv.so.2; do
  [ -e "$lib" ] && mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"
done
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
printf 'root:x:0:0::/root:/nonexistent\nsandbox:x:10001:10001::/home/sandbox:/nonexistent\n' > "$root/etc/passwd"
printf 'root:x:0:\nsandbox:x:10001:\n' > "$root/etc/group"
chown 10001:10001 "$root/home/sandbox"

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change "LABEL kontext.base-digest=$digest" \
  - "$tag" >/dev/null
echo "built $tag from $node ($(node --version)) and npm $(npm --version 2>/dev/null)"

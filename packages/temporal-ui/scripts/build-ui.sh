#!/usr/bin/env bash
# Rebuilds assets/ (and LICENSE, NOTICE, ui-version.json) from Temporal UI's source at a tag, the way Temporal's own
# UI server embeds it (`pnpm build:server`: `VITE_API=` so the UI calls /api/v1 on its own origin). Chunk names
# (content hashes) can differ from one build to the next.
#   scripts/build-ui.sh <tag> [path to a temporalio/ui checkout or mirror]
# Without a path it clones github.com/temporalio/ui (online). Every build dependency comes from the npm registry;
# the `prepare` script (which downloads a Temporal CLI binary) is skipped with --ignore-scripts.
set -euo pipefail

tag=${1:?usage: build-ui.sh <tag> [path to a temporalio/ui checkout]}
source=${2:-https://github.com/temporalio/ui.git}
package=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git clone --quiet --no-checkout "$source" "$work/ui"
git -C "$work/ui" -c advice.detachedHead=false checkout --quiet "refs/tags/$tag"
commit=$(git -C "$work/ui" rev-parse HEAD)
cd "$work/ui"

# The pnpm its package.json pins (packageManager: pnpm@X+sha...).
pnpm_version=$(node -p "require('./package.json').packageManager.replace(/^pnpm@/, '').split('+')[0]")
npx --yes "pnpm@$pnpm_version" install --frozen-lockfile --ignore-scripts
export PATH="$PWD/node_modules/.bin:$PATH"
svelte-kit sync
VITE_API= BUILD_PATH="$work/build" vite build

# The UI's only Monaco editor edits markdown, which runs in the generic editor worker; the TypeScript, CSS, HTML and
# JSON language workers (about 8 MB) are never loaded.
rm -f "$work"/build/_app/immutable/workers/{ts,css,html,json}.worker-*.js

rm -rf "$package/assets"
cp -R "$work/build" "$package/assets"
cp LICENSE "$package/LICENSE"
version=$(node -p "require('./package.json').version")
cat > "$package/NOTICE" <<NOTICE
assets/ is Temporal UI (https://github.com/temporalio/ui), MIT licence (LICENSE), built from its source:
  tag     $tag
  commit  $commit
  version $version
by scripts/build-ui.sh $tag (pnpm $pnpm_version install --frozen-lockfile --ignore-scripts; svelte-kit sync;
VITE_API= vite build), without the Monaco language workers for TypeScript, CSS, HTML and JSON, which the UI never
loads (its only editor edits markdown).
NOTICE
echo "{ \"version\": \"$version\", \"tag\": \"$tag\", \"commit\": \"$commit\" }" > "$package/ui-version.json"
echo "Temporal UI $version ($tag, $commit) -> $package/assets ($(du -sh "$package/assets" | cut -f1))"

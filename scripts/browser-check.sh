#!/usr/bin/env bash
# Loads the cockpit dashboard (CockpitDashboard.html, what `curv train --plot` writes) in a
# real headless browser, Debian's Chromium, and fails with one line when a page has a
# script error, a panel is missing or has an empty box.
#
# Without arguments it renders the page of every preset (economy, business, full) from a
# short seeded training run (the test CockpitDashboardTests/writesPagesForTheBrowserCheck,
# release build), and each again with the hyperparameter panel as `curv train --plot`
# draws it (CockpitHyperparameterTests/writesHyperparameterPagesForTheBrowserCheck), and
# checks each against its panel ids (CockpitDashboard.panelIDs). With
# arguments it checks the given pages; `page.ids` next to `page.html`, when present, lists
# the panel ids the page must show, one per line.
#
# The page's own script reports: `<body data-status>` is `ok` only after every
# `[data-panel]` element was laid out with a non-zero box, and `error: …` on any script
# error (window.onerror). Chromium's --dump-dom prints the DOM after the load event.
#
# Usage: bash scripts/browser-check.sh [page.html ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
curvature_install_chromium

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ $# -gt 0 ]; then
  pages=("$@")
else
  swift build -c release --build-tests >/dev/null
  CURVATURE_DASHBOARD_DIR="$work" swift test -c release --skip-build \
    --filter "CockpitDashboardTests/writesPagesForTheBrowserCheck|CockpitHyperparameterTests/writesHyperparameterPagesForTheBrowserCheck" \
    >"$work/test.log" 2>&1 ||
    { cat "$work/test.log" >&2; echo "browser check: could not render the dashboards" >&2; exit 1; }
  pages=()
  for preset in economy business full; do pages+=("$work/$preset.html" "$work/$preset-hyperparameters.html"); done
fi

failed=0
for page in "${pages[@]}"; do
  name=$(basename "$page")
  if [ ! -f "$page" ]; then
    echo "browser check: $name: no such page" >&2
    failed=1
    continue
  fi
  absolute=$(cd "$(dirname "$page")" && pwd)/$name
  # The DOM goes to a file, not a shell variable piped to `grep -q`: with pipefail, grep
  # exiting at its first match kills the writer of a large page with SIGPIPE, and the
  # check would fail at random (seen on the full preset's pages).
  dom="$work/dom.html"
  timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile" \
    --virtual-time-budget=5000 --dump-dom "file://$absolute" >"$dom" 2>"$work/chromium.log" || {
    echo "browser check: $name: chromium failed ($(tail -n 1 "$work/chromium.log"))" >&2
    failed=1
    continue
  }
  status=$(grep -o -m 1 '<body[^>]*>' "$dom" | sed -n 's/.*data-status="\([^"]*\)".*/\1/p')
  if [ "$status" != "ok" ]; then
    echo "browser check: $name: page status '${status:-none}' (expected ok)" >&2
    failed=1
    continue
  fi
  ids="${page%.html}.ids"
  missing=()
  if [ -f "$ids" ]; then
    while IFS= read -r id; do
      [ -z "$id" ] && continue
      grep -q "id=\"$id\" data-panel=\"$id\"" "$dom" || missing+=("$id")
    done <"$ids"
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    echo "browser check: $name: panels missing from the rendered page: ${missing[*]}" >&2
    failed=1
    continue
  fi
  count=$(grep -o 'data-panel="' "$dom" | wc -l)
  echo "browser check: $name: ok ($count panels)"
done
exit $failed

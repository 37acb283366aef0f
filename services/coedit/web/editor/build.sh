#!/usr/bin/env bash
# Rebuild ../static/editor.js from the locked npm packages (Node 20+). The bundle is
# committed: running the web needs no Node and no network.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run build

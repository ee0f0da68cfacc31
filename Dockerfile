# syntax=docker/dockerfile:1
#
# Production image for the Spirit Tours Platform. One image, three commands:
#   API (default)   node dist/api/main.js
#   worker          node dist/workers/main.js
#   migrations      node dist/scripts/migrate.js   (add --rollback to undo the last batch)
# Needs DATABASE_URL, TEMPORAL_ADDRESS and JWT_SECRET at run time; see docs/deployment.md.
#
# SPIRIT_SKIP_TEMPORAL_SETUP=1 keeps the postinstall hook (scripts/setup-temporal.js) from
# fetching a Temporal CLI dev server: the image always talks to an external Temporal.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: all dependencies, TypeScript -> dist/ ----------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV SPIRIT_SKIP_TEMPORAL_SETUP=1 PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1
# The postinstall hook require()s scripts/temporal-cli.js before it checks the skip flag.
COPY package.json package-lock.json .npmrc ./
COPY scripts/setup-temporal.js scripts/temporal-cli.js ./scripts/
RUN --mount=type=cache,target=/root/.npm npm ci
COPY . .
# tsc -p tsconfig.build.json: api, workers, workflows, activities, models, platform, scripts and
# migrations (as dist/migrations/*.js, which platform/db.ts loads in production) -> dist/
RUN npm run build
# The operator console's static files (Vite; dev dependencies exist only in this stage).
RUN npm run console:build

# ---- prod-deps: runtime node_modules only ------------------------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
ENV SPIRIT_SKIP_TEMPORAL_SETUP=1 NODE_ENV=production PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1
COPY package.json package-lock.json .npmrc ./
COPY scripts/setup-temporal.js scripts/temporal-cli.js ./scripts/
# The worker bundles the workflow code when it starts (webpack + swc). Both are regular
# dependencies of @temporalio/worker, so --omit=dev keeps them.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev
# @temporalio/core-bridge ships native binaries for five platforms (~140 MB); keep only this
# image's. Fails the build if the one it needs is missing.
RUN set -eu; \
    target="$(node -p "require('./node_modules/@temporalio/core-bridge/common.js').getPrebuiltTargetName()")"; \
    test -f "node_modules/@temporalio/core-bridge/releases/$target/index.node"; \
    find node_modules/@temporalio/core-bridge/releases -mindepth 1 -maxdepth 1 ! -name "$target" -exec rm -rf {} +

# ---- runtime -----------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    SPIRIT_SKIP_TEMPORAL_SETUP=1 \
    CONSOLE_DIST=/app/console/dist \
    NODE_OPTIONS=--enable-source-maps \
    PORT=3000
# Code and dependencies stay owned by root (read-only for the app); the process runs as the
# image's unprivileged "node" user (uid 1000). Nothing is written to disk in production.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/console/dist ./console/dist
COPY package.json ./
USER node
EXPOSE 3000
CMD ["node", "dist/api/main.js"]

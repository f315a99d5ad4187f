# syntax=docker/dockerfile:1
# pgvigil: build with dev dependencies, run with production dependencies only.
#   docker build -t pgvigil .
#   docker run --rm -p 9630:9630 -e DATABASE_URL=postgres://monitor:secret@db:5432/postgres pgvigil
# test/deploy/dockerfile.test.ts runs these same steps outside Docker.

ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# The workspace package pgvigil-pool (query classes, redactor, bucket bounds) is a dependency of
# the exporter: npm links it from packages/pool, so its package.json comes with the lock file.
COPY package.json package-lock.json ./
COPY packages/pool/package.json ./packages/pool/
# --ignore-scripts: the dev dependencies carry PostgreSQL binaries for the test suite, whose
# install scripts a build does not need.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY packages/pool/tsconfig.json ./packages/pool/
COPY packages/pool/src ./packages/pool/src
COPY src ./src
COPY bench ./bench
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PGVIGIL_HOST=0.0.0.0 \
    PGVIGIL_PORT=9630
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/pool/package.json ./packages/pool/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/packages/pool/dist ./packages/pool/dist
COPY --from=build /src/dist/src ./dist/src
# Numeric, so Kubernetes' runAsNonRoot can verify it (the image's "node" user is 1000).
USER 1000:1000
EXPOSE 9630
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["node", "dist/src/healthcheck.js"]
# Node flags as on the first line of src/main.ts (test/deploy/runtime-flags.test.ts).
ENTRYPOINT ["node", "--max-semi-space-size=2", "--expose-gc", "--single-threaded", "dist/src/main.js"]

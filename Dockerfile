# The worker image used by docker-compose.yml.
FROM node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, so source edits do not reinstall them. tsx (a dev
# dependency) runs the TypeScript entry point, so dev dependencies are kept.
COPY package.json package-lock.json ./
RUN npm ci --include=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY src ./src

# The workflow code compiled once, here, so the worker never runs webpack at start (WORKFLOW_BUNDLE). A worker
# that encrypts payloads (PAYLOAD_KEY set) runs the codec's build: WORKFLOW_BUNDLE=/app/dist/workflow-bundle-codec.js.
RUN npx tsx src/workers/bundle.ts --out dist/workflow-bundle.js \
 && npx tsx src/workers/bundle.ts --out dist/workflow-bundle-codec.js --with-codec
ENV WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js

RUN mkdir -p /app/.data && chown -R node:node /app/.data
USER node

CMD ["npx", "tsx", "src/cli/main.ts", "worker"]

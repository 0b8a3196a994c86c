# The app's image for docker-compose.yml (API, worker, migrations). Built in two stages: the first installs every
# dependency and compiles; the second, the one that runs, installs production dependencies only
# (`npm ci --omit=dev`: no compiler, test tools or local stand-ins) and takes the compiled output from the first.
FROM node:20.19.2-bookworm AS build
WORKDIR /app
COPY . .
RUN npm ci && npm run build

FROM node:20.19.2-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# The workspaces' manifests come too: the lockfile names them, and they declare nothing a production install fetches.
COPY package.json package-lock.json ./
COPY packages ./packages
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
CMD ["npm", "run", "api"]

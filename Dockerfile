# kontext-preview service image: the API, a worker node or beat (docker-compose.yml runs all three).
# Node comes from the official Node image; the Vite template is installed with scripts disabled.
ARG NODE_IMAGE=node:22-bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${NODE_IMAGE} AS node

FROM ${PYTHON_IMAGE}
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s /usr/local/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && useradd --create-home --uid 10001 kontext

WORKDIR /app
COPY pyproject.toml README.md ./
COPY kontext_preview ./kontext_preview
COPY workers ./workers
COPY sandbox-images ./sandbox-images
RUN (cd kontext_preview/playground/web && npm ci --ignore-scripts --no-audit --no-fund \
        && npx --no-install vite build --logLevel warn && rm -rf node_modules) \
    && pip install --no-cache-dir . \
    && (cd sandbox-images/template && npm ci --ignore-scripts --no-audit --no-fund) \
    && (cd sandbox-images/deployer && npm ci --ignore-scripts --no-audit --no-fund) \
    && mkdir -p /data /deployments && chown kontext /data /deployments

USER kontext
ENV KONTEXT_DATA_DIR=/data \
    KONTEXT_SANDBOX_IMAGES_DIR=/app/sandbox-images
EXPOSE 8000
CMD ["kontext-preview", "serve", "--host", "0.0.0.0"]

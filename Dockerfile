# dodo-mcp as a network service: Streamable HTTP on 0.0.0.0:8000, bearer token required.
#   docker build -t dodo-mcp .
#   docker run -p 8000:8000 -e DODO_MCP_AUTH_TOKEN=... -e DODO_PAYMENTS_API_KEY=... dodo-mcp
# CI has no Docker engine: .ci/dockerfile_run.py runs these same RUN/ENV/CMD/HEALTHCHECK lines in a
# fresh venv instead, so what the image does is what CI tests.

FROM python:3.12-slim AS build
WORKDIR /src
COPY . .
RUN python -m pip install --no-cache-dir build && python -m build --wheel --outdir dist

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 dodo
COPY --from=build /src/dist/ /wheels/
RUN python -m pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER dodo
ENV DODO_MCP_TRANSPORT=streamable-http DODO_MCP_HOST=0.0.0.0 DODO_MCP_PORT=8000 PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
STOPSIGNAL SIGTERM
CMD ["dodo-mcp"]

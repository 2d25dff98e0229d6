# The product image runs what a user's `pip install` gets: the first stage builds the wheel, the
# last installs that wheel alone (migrations ship inside it) and runs as an unprivileged user
# from a directory that holds no source. tests/e2e/test_installed.py does the same install outside
# Docker. The simulator is not in the wheel: its own stage (`docker compose --profile dry-run`,
# `docker build --target simulator .`) holds the `simulator` package and its extra alone.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY workers ./workers
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim AS simulator
# The `simulator` extra of pyproject.toml, the one list of what the simulator imports.
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c 'import tomllib; print(*tomllib.load(open("/tmp/pyproject.toml", "rb"))["project"]["optional-dependencies"]["simulator"], sep="\n")' > /tmp/simulator.txt \
    && pip install --no-cache-dir -r /tmp/simulator.txt \
    && rm /tmp/pyproject.toml /tmp/simulator.txt \
    && useradd --create-home --uid 10001 simulator
COPY simulator /opt/scangrade/simulator
ENV PYTHONPATH=/opt/scangrade
USER simulator
WORKDIR /home/simulator
EXPOSE 8700
ENTRYPOINT ["python", "-m", "simulator"]

FROM python:3.11-slim AS product
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 scangrade
USER scangrade
WORKDIR /home/scangrade
ENTRYPOINT ["scangrade"]

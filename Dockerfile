# The image runs what a user's `pip install` gets: the first stage builds the wheel, the second
# installs that wheel alone (migrations ship inside it) and runs as an unprivileged user from a
# directory that holds no source. tests/test_installed.py does the same install outside Docker.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY workers ./workers
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 scangrade
USER scangrade
WORKDIR /home/scangrade
ENTRYPOINT ["scangrade"]

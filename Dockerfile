FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY workers ./workers
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --create-home scangrade
USER scangrade
ENTRYPOINT ["scangrade"]

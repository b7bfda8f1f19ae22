# syntax=docker/dockerfile:1
# Phonebank: one image for every role of the scaled layout (see docker-compose.yml).
#   docker build -t phonebank .
#   docker run --rm -p 8000:8000 --env-file .env phonebank          # everything in one process
#   docker run --rm --env-file .env phonebank db upgrade             # any other command

FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
# Wheels for Phonebank and all its dependencies; the final stage installs them offline.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels phonebank
RUN useradd --system --uid 10001 --user-group --create-home phonebank \
    && mkdir /data && chown phonebank:phonebank /data
USER phonebank
# The embedded default (sqlite:///phonebank.db) lands in this volume.
WORKDIR /data
VOLUME /data
EXPOSE 8000
ENTRYPOINT ["phonebank"]
CMD ["run", "--host", "0.0.0.0", "--port", "8000"]

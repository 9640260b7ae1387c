# Centaur-C++ server image (used by compose/docker-compose.yml). Two stages:
#   build:   Debian 12 with the build packages (scripts/bootstrap --build-only), CMake Release build of
#            centaur-api-server, centaur-session-cli and centaur-mock-agent;
#   runtime: debian:12-slim with just the Debian packages owning the shared libraries those binaries load
#            (computed from ldd in the build stage, so a new library dependency needs no edit here).
# docker build -t centaur-cpp:local .   (from the repository root; .dockerignore keeps build trees out)

FROM debian:12 AS build
WORKDIR /src
COPY scripts/bootstrap scripts/bootstrap
RUN scripts/bootstrap --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" --target centaur-api-server centaur-session-cli centaur-mock-agent
RUN set -e; \
    for lib in $(ldd /build/bin/centaur-* | awk '/=> \//{print $3}' | sort -u); do \
      real=$(realpath "$lib"); usr=/usr${real#/usr}; \
      dpkg -S "$usr" 2>/dev/null || dpkg -S "${usr#/usr}"; \
    done | cut -d: -f1 | sort -u >/build/runtime-packages; \
    cat /build/runtime-packages

FROM debian:12-slim AS runtime
COPY --from=build /build/runtime-packages /tmp/runtime-packages
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends $(cat /tmp/runtime-packages) curl ca-certificates bubblewrap \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && useradd --system --home-dir /var/lib/centaur --shell /usr/sbin/nologin centaur \
 && install -d -o centaur -g centaur /var/lib/centaur /var/lib/centaur/sandboxes
COPY --from=build /build/bin/centaur-api-server /build/bin/centaur-session-cli /build/bin/centaur-mock-agent \
     /opt/centaur/bin/
ENV PATH=/opt/centaur/bin:$PATH \
    BIND_ADDR=0.0.0.0:8080 \
    CENTAUR_SANDBOX_WORKSPACE_ROOT=/var/lib/centaur/sandboxes
USER centaur
WORKDIR /var/lib/centaur
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=24 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:8080/readyz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["centaur-api-server"]

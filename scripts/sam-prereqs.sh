#!/usr/bin/env bash
# What `sam local invoke` needs on this machine, set up only where missing (fast when all is
# there; `make sam-local-test` runs it first):
#
#   1. a usable Docker Engine: Debian's docker.io if there is no `docker`, and a daemon with
#      the default bridge and iptables (SAM publishes the emulator's port to a random host
#      port, so --bridge=none or --network host do not work);
#   2. arm64 emulation (QEMU user mode + binfmt_misc) when the host is not arm64, because the
#      function is built for arm64 (template.yaml: Architectures: [arm64]);
#   3. the Lambda base image public.ecr.aws/lambda/provided:al2023-arm64: pulled when the
#      registry is reachable, else a local stand-in (busybox-static + Debian's arm64 libc6 and
#      libgcc-s1). SAM builds its own "-rapid-" image on top with a Dockerfile that runs `mv`
#      and `chmod`, so the base needs a shell; the Runtime Interface Emulator comes with SAM.
#
# Installing packages, starting dockerd and registering binfmt handlers need root; without
# root the script only checks, and says what is missing. Exits non-zero if Docker cannot run.
#
# Overridable: SAM_BASE_IMAGE (public.ecr.aws/lambda/provided:al2023-arm64),
# SAM_PREREQS_PULL (1: try `docker pull` before building the stand-in; 0: never),
# DOCKERD_LOG (/var/log/dockerd.log, when this script starts dockerd itself).
set -euo pipefail

BASE_IMAGE="${SAM_BASE_IMAGE:-public.ecr.aws/lambda/provided:al2023-arm64}"
PULL="${SAM_PREREQS_PULL:-1}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"

say() { echo "sam-prereqs: $*" >&2; }
die() {
  echo "sam-prereqs: ERROR: $*" >&2
  exit 1
}
is_root() { [[ "$(id -u)" -eq 0 ]]; }

APT_UPDATED=0
apt_install() {
  is_root || die "missing packages ($*): run this script as root (it installs them with apt-get), or install them yourself"
  command -v apt-get >/dev/null || die "missing packages ($*) and no apt-get: install them with your package manager"
  if [[ "$APT_UPDATED" -eq 0 ]]; then
    say "apt-get update"
    apt-get update -qq
    APT_UPDATED=1
  fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

docker_ok() { docker info >/dev/null 2>&1; }

# 1. Docker Engine and a running daemon.
ensure_docker() {
  if command -v docker >/dev/null && docker_ok; then return 0; fi

  if ! command -v docker >/dev/null || ! command -v dockerd >/dev/null; then
    if ! is_root; then
      die "Docker cannot run here: $(command -v docker >/dev/null && echo 'the daemon is not reachable' || echo 'docker is not installed') and this script is not root. Run it as root (it installs Debian's docker.io and starts dockerd), or install and start Docker and give your user access to it (the docker group)."
    fi
    apt_install docker.io containerd runc iptables
  fi

  if ! is_root; then
    die "Docker cannot run here: \`docker info\` fails ($(docker info 2>&1 | grep -m1 -i 'error\|cannot' || echo 'no daemon')). Start the Docker daemon, or make sure your user may use it (the docker group), or run this script as root."
  fi

  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    say "starting the docker service (systemd)"
    systemctl start docker || true
  fi
  if ! docker_ok; then
    # No systemd (a container or a minimal VM): run the daemon ourselves, detached, with its
    # defaults (the docker0 bridge and iptables rules, which SAM's port publishing needs).
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    say "starting dockerd (log: $DOCKERD_LOG)"
    # Without the userland proxy, a container's published port refuses connections until
    # the Lambda emulator inside listens, so `sam local invoke` waits for it; with the proxy,
    # the port accepts at once, SAM posts the event after three quick retries, and an
    # emulator still starting under arm64 emulation misses it ("No response from invoke
    # container").
    setsid dockerd --userland-proxy=false >>"$DOCKERD_LOG" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
      docker_ok && break
      sleep 0.5
    done
  fi
  docker_ok || die "Docker cannot run here: dockerd did not come up within 30 s. Its log ($DOCKERD_LOG) ends with:
$(tail -n 15 "$DOCKERD_LOG" 2>/dev/null)
Docker needs root, cgroups, overlayfs (or vfs) and iptables; some sandboxes allow none of these."
}

# 2. arm64 emulation for a non-arm64 host.
ensure_arm64_emulation() {
  case "$(uname -m)" in
    aarch64 | arm64)
      return 0
      ;;
  esac
  local handler=/proc/sys/fs/binfmt_misc/qemu-aarch64
  if [[ -f "$handler" ]] && head -n1 "$handler" | grep -qx enabled; then return 0; fi
  is_root || die "this $(uname -m) host cannot run arm64 containers: no enabled qemu-aarch64 binfmt handler. Run this script as root (it installs qemu-user-static and binfmt-support), or register one yourself."
  if [[ ! -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P && ! -e /usr/bin/qemu-aarch64-static ]] || ! command -v update-binfmts >/dev/null; then
    apt_install qemu-user-static binfmt-support
  fi
  if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
      || die "cannot mount binfmt_misc (needed to run arm64 binaries on $(uname -m))"
  fi
  # Debian's qemu-user-static registers with the F (fix binary) flag, so the handler also
  # works inside containers, whose file systems do not have the interpreter.
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  if ! { [[ -f "$handler" ]] && head -n1 "$handler" | grep -qx enabled; }; then
    die "could not enable the qemu-aarch64 binfmt handler (update-binfmts --enable qemu-aarch64 failed)"
  fi
  say "arm64 emulation enabled (qemu-aarch64 binfmt handler)"
}

# 3. The base image.
build_stand_in() {
  is_root || die "the base image $BASE_IMAGE is missing and cannot be pulled; building the stand-in needs root (apt-get download of arm64 packages)"
  command -v apt-get >/dev/null || die "the base image $BASE_IMAGE is missing, cannot be pulled, and there is no apt-get to build a stand-in"
  local host_arch
  host_arch=$(dpkg --print-architecture)
  if [[ "$host_arch" != arm64 ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    say "adding the arm64 package architecture (to download arm64 .debs)"
    dpkg --add-architecture arm64
    APT_UPDATED=0
  fi
  if [[ "$APT_UPDATED" -eq 0 ]]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"; trap - RETURN' RETURN
  mkdir -p "$work/debs" "$work/rootfs" "$work/ctx"
  # (_apt cannot write into a root-owned mktemp folder; apt-get only warns about that.)
  (cd "$work/debs" && apt-get download -qq libc6:arm64 libgcc-s1:arm64 busybox-static:arm64) \
    >"$work/download.log" 2>&1 \
    || die "apt-get download of the arm64 packages failed: $(grep -v 'unsandboxed' "$work/download.log")"
  local deb
  for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/rootfs"; done
  local r="$work/rootfs"
  [[ -x "$r/bin/busybox" && -e "$r/lib/ld-linux-aarch64.so.1" ]] || die "the arm64 packages did not unpack as expected"
  mkdir -p "$r/var/task" "$r/var/runtime" "$r/opt" "$r/tmp" "$r/etc/ssl/certs"
  chmod 1777 "$r/tmp"
  local c
  for c in sh mv chmod cp rm ls cat env; do ln -sf busybox "$r/bin/$c"; done
  # The real image has a CA bundle; without one the SDK warns at init (it is not needed for
  # DynamoDB Local over http).
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] && cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/"
  tar -C "$r" -cf "$work/ctx/rootfs.tar" .
  cat >"$work/ctx/Dockerfile" <<'EOF'
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/bin:/bin LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime
LABEL org-secrets.stand-in="busybox-static + Debian arm64 libc6, libgcc-s1; built by scripts/sam-prereqs.sh"
WORKDIR /var/task
EOF
  # The classic builder: Debian's docker.io has no buildx plugin for BuildKit.
  DOCKER_BUILDKIT=0 docker build -q --platform linux/arm64 -t "$BASE_IMAGE" "$work/ctx" >"$work/build.log" 2>&1 \
    || die "docker build of the stand-in failed: $(cat "$work/build.log")"
  # SAM builds its "-rapid-" image once and never notices a new base: drop the old one.
  docker rmi "${BASE_IMAGE%-*}-rapid-${BASE_IMAGE##*-}" >/dev/null 2>&1 || true
  say "built a local stand-in for $BASE_IMAGE"
}

ensure_base_image() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return 0; fi
  if [[ "$PULL" == 1 ]]; then
    say "pulling $BASE_IMAGE"
    if timeout 120 docker pull -q --platform linux/arm64 "$BASE_IMAGE" >/dev/null 2>&1; then return 0; fi
    say "cannot pull $BASE_IMAGE (no registry access?); building a local stand-in"
  fi
  build_stand_in
}

check_arm64_container() {
  local arch
  arch=$(docker run --rm --platform linux/arm64 --entrypoint /bin/sh "$BASE_IMAGE" -c 'uname -m' 2>&1) \
    || die "cannot run an arm64 container from $BASE_IMAGE: $arch"
  [[ "$arch" == aarch64 ]] || die "an arm64 container reports machine '$arch'"
}

ensure_docker
ensure_arm64_emulation
ensure_base_image
check_arm64_container
say "ready: docker $(docker version --format '{{.Server.Version}}' 2>/dev/null), $(uname -m) host, $BASE_IMAGE"

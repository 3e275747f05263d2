"""What a Docker sandbox keeps the AI's code from doing. The project's own vite.config runs
a probe inside the container (as any vite.config could) and reports what it could do; the
engine's view of the container is checked beside it."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kontext_preview.sandbox.containers import CPU_PERIOD_US, SCOPE, SHAPE, scope_of
from tests.conftest import create_session, push, replace_file, session_dir
from tests.distributed.cluster import read_events
from tests.project import FIXTURES, project_files
from tests.sandboxes import containers_of, docker_client
from tests.server import ApiServer, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.vite]

MEMORY_MB = 384
PORTS = (41000, 41999)  # the node's ports for dev servers: other sessions' doors are there
MOTOKO = "src/backend/main.mo"
MOTOKO_SOURCE = (FIXTURES / "react-app" / MOTOKO).read_text()
PROBE_CONFIG = """
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";

const attempt = (fn) => { try { fn(); return "ok"; } catch (e) { return e.code ?? String(e); } };
const connect = (port) => new Promise((resolve) => {
  const socket = net.connect({ host: "127.0.0.1", port });
  // A connection to itself (the kernel picked the port as its own source) reached nobody.
  socket.once("connect", () => {
    const self = socket.localPort === socket.remotePort;
    socket.destroy();
    resolve(self ? "self" : "connected");
  });
  socket.once("error", (e) => resolve(e.code));
  setTimeout(() => { socket.destroy(); resolve("timeout"); }, 2000);
});

const probe = {
  name: "probe",
  configureServer(server) {
    server.middlewares.use(async (req, res, next) => {
      const url = new URL(req.url, "http://x");
      if (url.pathname === "/__hog") {
        const hog = [];
        for (;;) hog.push(Buffer.alloc(16 << 20, 1));
      }
      if (url.pathname !== "/__probe") return next();
      const writes = {};
      for (const target of ["/etc/probe", "/opt/kontext/template/probe", "/session/workspace/probe",
                            "/session/workspace/src/frontend/src/probe", "/run/probe", "/probe",
                            "/opt/kontext/stacks/probe", "/tmp/probe", "/tmp-native/probe"]) {
        writes[target] = attempt(() => fs.writeFileSync(target, "x"));
      }
      const [from, to] = url.searchParams.get("ports").split("-").map(Number);
      // A listener of its own in the range shows that the scan does find what answers.
      const control = net.createServer((c) => c.destroy());
      await new Promise((resolve) => control.listen(to, "127.0.0.1", resolve));
      const reached = [];
      for (let port = from; port <= to; port++) {
        if ((await connect(port)) === "connected") reached.push(port);
      }
      control.close();
      const api = await connect(Number(url.searchParams.get("api")));
      const status = fs.readFileSync("/proc/self/status", "utf8");
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({
        uid: process.getuid(),
        capEff: /CapEff:\\s*(\\S+)/.exec(status)[1],
        noNewPrivs: /NoNewPrivs:\\s*(\\S+)/.exec(status)[1],
        writes,
        reached,
        api,
        interfaces: Object.keys(os.networkInterfaces()),
        routes: fs.readFileSync("/proc/net/route", "utf8").trim().split("\\n").length - 1,
        dockerSocket: ["/var/run/docker.sock", "/run/docker.sock"].some((p) => fs.existsSync(p)),
        env: Object.keys(process.env),
        passwd: fs.readFileSync("/etc/passwd", "utf8"),
      }));
    });
  },
};

export default defineConfig({ plugins: [react(), probe] });
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    srv = ApiServer.start(
        tmp_path_factory.mktemp("isolation"),
        sandbox_backend="docker",
        docker_memory_mb=MEMORY_MB,
        sandbox_port_min=PORTS[0],
        sandbox_port_max=PORTS[1],
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def api(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def probe_project() -> list[dict[str, Any]]:
    return replace_file(project_files(), "src/frontend/vite.config.ts", PROBE_CONFIG)


def probe(server: ApiServer, sid: str) -> dict[str, Any]:
    ports = f"{PORTS[0]}-{PORTS[1]}"
    response = server.preview_get(sid, f"/__probe?ports={ports}&api={server.port}")
    assert response.status_code == 200, response.text[:500]
    answer: dict[str, Any] = response.json()
    return answer


def test_a_container_runs_unprivileged_and_writes_nowhere_but_its_tmpfs(
    server: ApiServer, api: httpx.Client
) -> None:
    sid = create_session(api, probe_project())["sessionId"]
    seen = probe(server, sid)
    assert seen["uid"] != 0
    assert seen["capEff"] == "0000000000000000"  # no capability at all
    assert seen["noNewPrivs"] == "1"
    writable = {path for path, result in seen["writes"].items() if result == "ok"}
    # Its two tmpfs (the second for native addons that unpack themselves, SWC's); even its
    # own workspace is read-only.
    assert writable == {"/tmp/probe", "/tmp-native/probe"}, seen["writes"]
    assert seen["writes"]["/session/workspace/probe"] == "EROFS"
    assert not seen["dockerSocket"]
    assert not [name for name in seen["env"] if name.startswith("KONTEXT")]
    assert seen["passwd"] != Path("/etc/passwd").read_text(), "it sees the host's files"

    (container,) = containers_of(sid)
    host = container.attrs["HostConfig"]
    assert host["ReadonlyRootfs"] and not host["Privileged"]
    assert host["CapDrop"] == ["ALL"] and "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Memory"] == MEMORY_MB * 1024 * 1024 and host["PidsLimit"] > 0
    assert host["CpuPeriod"] == CPU_PERIOD_US and host["CpuQuota"] > 0
    own = str(session_dir(server, sid))
    sources = [m["Source"] for m in container.attrs["Mounts"] if m["Type"] == "bind"]
    assert sources and all(source.startswith(own + "/") for source in sources), sources
    api.delete(f"/kontext/preview/{sid}")


def test_a_container_has_no_network_to_reach_other_sessions_or_the_api(
    server: ApiServer, api: httpx.Client
) -> None:
    other = create_session(api, project_files())["sessionId"]
    sid = create_session(api, probe_project())["sessionId"]
    seen = probe(server, sid)
    # The other session's door is on this machine's loopback, in the port range probed, and
    # so is the API. Inside the container 127.0.0.1 is its own: only its own listener (on
    # the range's last port) answers.
    assert seen["reached"] == [PORTS[1]]
    assert seen["api"] in ("ECONNREFUSED", "self")
    assert seen["interfaces"] == ["lo"] and seen["routes"] == 0
    (container,) = containers_of(sid)
    assert container.attrs["HostConfig"]["NetworkMode"] == "none"
    assert server.preview_get(other, "/src/Header.tsx").status_code == 200
    for each in (sid, other):
        api.delete(f"/kontext/preview/{each}")


def test_a_container_at_its_memory_limit_is_killed_alone_and_restarted(
    server: ApiServer, api: httpx.Client
) -> None:
    other = create_session(api, project_files())["sessionId"]
    sid = create_session(api, probe_project())["sessionId"]
    (before,) = containers_of(sid)
    assert server.preview_get(sid, "/__hog").status_code == 502  # the dev server is gone
    logs = lambda: "\n".join(api.get(f"/kontext/preview/{sid}").json()["logs"])  # noqa: E731
    assert wait_for(lambda: "killed at its memory limit (384 MiB" in logs(), 60), logs()
    # Supervision starts it again; the other session never noticed.
    assert wait_for(lambda: api.get(f"/kontext/preview/{sid}").json()["status"] == "active", 60)
    assert [c.id for c in containers_of(sid)] != [before.id]
    assert server.preview_get(other, "/src/Header.tsx").status_code == 200
    answer = push(api, other, "src/frontend/src/Header.tsx", "export default () => <h1>ok</h1>;\n")
    assert answer["updated"] == ["src/frontend/src/Header.tsx"]
    for each in (sid, other):
        api.delete(f"/kontext/preview/{each}")


def test_egress_when_enabled_is_a_bridge_whose_containers_cannot_reach_each_other(
    tmp_path: Any,
) -> None:
    """KONTEXT_DOCKER_EGRESS=true: previews get an interface on the egress bridge, made with
    inter-container traffic off (nothing is sent anywhere here)."""
    network = f"kp-test-egress-{tmp_path.name[-8:]}"
    srv = ApiServer.start(
        tmp_path, sandbox_backend="docker", docker_egress=True, docker_egress_network=network
    )
    client = docker_client()
    try:
        with srv.client() as api:
            sid = create_session(api, probe_project())["sessionId"]
            seen = probe(srv, sid)
            assert "lo" in seen["interfaces"] and len(seen["interfaces"]) == 2, seen
            (container,) = containers_of(sid)
            assert list(container.attrs["NetworkSettings"]["Networks"]) == [network]
            options = client.networks.get(network).attrs["Options"]
            assert options["com.docker.network.bridge.enable_icc"] == "false"
            api.delete(f"/kontext/preview/{sid}")
    finally:
        srv.stop()
        client.networks.get(network).remove()


# A deployment's `vite build` runs the project's vite.config too: this one reports, in a file
# of the built site, what it could do while building.
BUILD_PROBE_CONFIG = """
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";

const attempt = (fn) => { try { fn(); return "ok"; } catch (e) { return e.code ?? String(e); } };
const connect = (port) => new Promise((resolve) => {
  const socket = net.connect({ host: "127.0.0.1", port });
  socket.once("connect", () => { socket.destroy(); resolve("connected"); });
  socket.once("error", (e) => resolve(e.code));
  setTimeout(() => { socket.destroy(); resolve("timeout"); }, 2000);
});

const probe = {
  name: "build-probe",
  apply: "build",
  async generateBundle() {
    const writes = {};
    for (const target of ["/session/workspace/probe", "/opt/kontext/template/probe",
                          "/etc/probe", "/tmp/probe", "/session/out/probe"]) {
      writes[target] = attempt(() => fs.writeFileSync(target, "x"));
    }
    const status = fs.readFileSync("/proc/self/status", "utf8");
    const seen = {
      uid: process.getuid(),
      capEff: /CapEff:\\s*(\\S+)/.exec(status)[1],
      writes,
      interfaces: Object.keys(os.networkInterfaces()),
      api: await connect(API_PORT),
      env: Object.keys(process.env),
      passwd: fs.readFileSync("/etc/passwd", "utf8"),
    };
    this.emitFile({ type: "asset", fileName: "probe.json", source: JSON.stringify(seen) });
  },
};

export default defineConfig({ plugins: [react(), probe] });
"""


def test_a_deployment_builds_in_a_container_as_contained_as_a_preview(
    server: ApiServer, api: httpx.Client
) -> None:
    """A backend change queues a full deployment; its `vite build` (the project's own
    vite.config) and its Motoko check run in short-lived containers of the image, with no
    network, the project read-only and only the build's output folder writable."""
    config = BUILD_PROBE_CONFIG.replace("API_PORT", str(server.port))
    files = replace_file(project_files(), "src/frontend/vite.config.ts", config)
    sid = create_session(api, files)["sessionId"]
    result = push(api, sid, MOTOKO, MOTOKO_SOURCE.replace("Hello", "Hi"))
    assert result["strategy"] == "full-deploy"
    events = read_events(
        server.base_url,
        sid,
        until=lambda e: e.type in ("deploy.succeeded", "deploy.failed"),
        timeout=120,
    )
    assert events[-1].type == "deploy.succeeded", events[-1].data
    progress = [e.data["line"] for e in events if e.type == "deploy.progress"]
    assert any("motoko: no errors" in line for line in progress), progress

    site = httpx.get(
        f"{server.base_url}/probe.json",
        headers={"host": f"deploy-{sid}.localhost"},
        trust_env=False,
    )
    assert site.status_code == 200, site.text[:300]
    seen = site.json()
    assert seen["uid"] != 0 and seen["capEff"] == "0000000000000000"
    writable = {path for path, outcome in seen["writes"].items() if outcome == "ok"}
    assert writable == {"/tmp/probe", "/session/out/probe"}, seen["writes"]
    assert seen["writes"]["/session/workspace/probe"] == "EROFS"
    assert seen["interfaces"] == ["lo"] and seen["api"] == "ECONNREFUSED"
    assert not [name for name in seen["env"] if name.startswith("KONTEXT")]
    assert seen["passwd"] != Path("/etc/passwd").read_text()
    # The build's containers are gone; the preview's own is the session's only one.
    (container,) = containers_of(sid)
    assert container.labels[SHAPE] not in ("tool", "install")
    api.delete(f"/kontext/preview/{sid}")


HANGING_BUILD_CONFIG = """
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const hang = { name: "hang", apply: "build", buildStart: () => new Promise(() => {}) };
export default defineConfig({ plugins: [react(), hang] });
"""


def test_a_build_past_its_time_limit_is_stopped_and_its_container_removed(
    tmp_path: Path,
) -> None:
    srv = ApiServer.start(tmp_path, sandbox_backend="docker", deploy_timeout_seconds=4)
    try:
        with srv.client() as api:
            files = replace_file(
                project_files(), "src/frontend/vite.config.ts", HANGING_BUILD_CONFIG
            )
            sid = create_session(api, files)["sessionId"]
            push(api, sid, MOTOKO, MOTOKO_SOURCE.replace("Hello", "Hi"))
            building = lambda: any(  # noqa: E731
                c.labels[SHAPE] == "tool" for c in containers_of(sid)
            )
            assert wait_for(building, 30), "the build should run in a container"
            events = read_events(
                srv.base_url,
                sid,
                until=lambda e: e.type in ("deploy.succeeded", "deploy.failed"),
                timeout=60,
            )
            assert events[-1].type == "deploy.failed"
            assert "vite build ran longer than 4 s" in events[-1].data["error"]
            assert wait_for(lambda: not building(), 10), "the build's container is left"
            assert api.get(f"/kontext/preview/{sid}").json()["status"] == "active"
            api.delete(f"/kontext/preview/{sid}")
    finally:
        srv.stop()


def test_a_dev_server_starts_on_every_cpu_then_is_capped_and_installs_share_a_pause_container(
    tmp_path: Path,
) -> None:
    """The start burst (KONTEXT_DOCKER_START_CPUS for KONTEXT_DOCKER_START_SECONDS) ends in
    the cap; an install joins the scope's pause container, which the server removes as it
    stops (nothing of the scope is left)."""
    import os

    from kontext_preview.config import Settings

    start_seconds, cpus = 4.0, 0.5
    srv = ApiServer.start(
        tmp_path, sandbox_backend="docker", docker_start_seconds=start_seconds, docker_cpus=cpus
    )
    scope = scope_of(Settings(data_dir=tmp_path))
    try:
        with srv.client() as api:
            files = project_files()
            package = next(f for f in files if f["name"].endswith("package.json"))
            manifest = json.loads(package["content"])
            manifest["dependencies"]["is-odd"] = "3.0.1"  # in no template: an install
            package["content"] = json.dumps(manifest)
            sid = api.post("/kontext/preview", json={"files": files}).json()["sessionId"]
            install = wait_for(
                lambda: [c for c in containers_of(sid) if c.labels.get(SHAPE) == "install"],
                timeout=60,
            )
            assert install, "no install container was seen"
            mode = install[0].attrs["HostConfig"]["NetworkMode"]
            pause = docker_client().containers.get(mode.removeprefix("container:"))
            assert pause.labels.get(SCOPE) == scope and pause.labels.get(SHAPE) == "pause"
            dev = wait_for(
                lambda: [c for c in containers_of(sid) if c.labels.get(SHAPE) not in ("install",)],
                timeout=120,
            )[0]
            burst = dev.attrs["HostConfig"]
            assert burst["CpuPeriod"] == CPU_PERIOD_US
            assert burst["CpuQuota"] == (os.cpu_count() or 1) * CPU_PERIOD_US
            assert burst["NanoCpus"] == 0

            def capped() -> bool:
                dev.reload()
                return bool(dev.attrs["HostConfig"]["CpuQuota"] == int(cpus * CPU_PERIOD_US))

            assert wait_for(capped, timeout=start_seconds + 20), dev.attrs["HostConfig"]
    finally:
        srv.stop()
    left = docker_client().containers.list(all=True, filters={"label": f"{SCOPE}={scope}"})
    assert not left, [c.name for c in left]

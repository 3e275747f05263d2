"""The warm pool: dev servers started ahead of demand, so a new session skips Vite's start.

A slot is a session in all but name: its own random id, workspace and sandbox, started
on a prepared template's sample app with that template's dependencies. The pool keeps
``KONTEXT_POOL_SIZE`` slots of each template in ``KONTEXT_POOL_TEMPLATES``: the Vite
template's sample is ``sandbox-images/sample`` at ``KONTEXT_POOL_VITE_ROOT``; a stack
template's is its ``sample/`` folder, laid out as that stack's projects are (it imports
every runtime package of the stack, so the slot's Vite has pre-bundled them all). A
slot belongs to nobody, is in no registry, publishes no event and cannot be reached. A
new project *claims* a slot when the template that best satisfies it (npm's semver,
:func:`~kontext_preview.sandbox.dependencies.best_template`) satisfies all of it and the slot's
sample has its shape (the same app folder, a vite.config or not, the same framework): it
becomes the session, its id the session's id, and its workspace is replaced by the
project's files in one batch that the running Vite takes as ordinary changes. The pool
is then refilled in the background, a moment later, so the new slot's start does not
compete with the first page load. Slots count against the node's running dev servers; a
full node gives up slots first.
"""

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kontext_preview.config import Settings
from kontext_preview.contract import SessionStatus
from kontext_preview.errors import KontextError
from kontext_preview.previews.session import PreviewSession
from kontext_preview.sandbox.dependencies import best_template
from kontext_preview.workspace.layout import ProjectLayout, detect_layout, read_package_json

log = logging.getLogger(__name__)


def sample_files(settings: Settings, template: str = "template") -> dict[str, bytes]:
    """A template's sample app: the Vite template's placed where projects usually keep
    theirs (``KONTEXT_POOL_VITE_ROOT``), a stack template's as its ``sample/`` folder is.
    Raises KontextError if the template has none."""
    if template == "template":
        root, prefix = settings.sandbox_images_dir / "sample", settings.pool_vite_root.strip("/")
    else:
        root, prefix = settings.sandbox_images_dir / template / "sample", ""
    if not root.is_dir():
        raise KontextError(f"the pool template {template} has no sample app ({root})")
    return {
        "/".join(p for p in (prefix, path.relative_to(root).as_posix()) if p): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@dataclass(frozen=True)
class PoolTemplate:
    """One kind of slot: a prepared template and the sample app its slots run."""

    name: str  # as in KONTEXT_POOL_TEMPLATES: "template" or "stacks/<name>"
    dir: Path  # the template's folder
    sample: dict[str, bytes]
    shape: ProjectLayout


class SlotHost(Protocol):
    """What the pool needs from whoever runs dev servers (the
    :class:`~kontext_preview.previews.supervisor.Supervisor`)."""

    def start_slot(self, files: Mapping[str, bytes]) -> PreviewSession:
        """A session of nobody's, launched in the background on ``files``."""

    async def release_slot(self, slot: PreviewSession) -> None:
        """Stop a slot's dev server and remove its files."""

    async def wait_settled(self, session: PreviewSession, seconds: float) -> None:
        """Until the slot is active or failed, or ``seconds`` passed."""

    def has_room(self) -> bool:
        """Whether the node may start one more dev server."""


class WarmPool:
    def __init__(self, settings: Settings, host: SlotHost):
        self.host = host
        self.settings = settings
        self.slots: dict[str, PreviewSession] = {}
        self.kind: dict[str, PoolTemplate] = {}  # a slot's template, by the slot's id
        self.templates = [self._template(name) for name in self.settings.pool_templates]
        self._filler: asyncio.Task[None] | None = None
        self._closed = False

    def _template(self, name: str) -> PoolTemplate:
        sample = sample_files(self.settings, name)
        folder = self.settings.sandbox_images_dir / name
        return PoolTemplate(name, folder, sample, detect_layout(sample))

    @property
    def size(self) -> int:
        return self.settings.pool_size

    def start(self) -> None:
        self.refill(delay=0)

    def refill(self, delay: float | None = None) -> None:
        """Start slots up to the pool's size, in the background."""
        if self._closed or self.size <= 0 or (self._filler and not self._filler.done()):
            return
        wait = self.settings.pool_refill_delay_seconds if delay is None else delay
        # A context of its own: the pool's lines are not about the session that claimed.
        self._filler = asyncio.create_task(self._fill(wait), context=contextvars.Context())

    async def claim(
        self, layout: ProjectLayout, files: Mapping[str, bytes]
    ) -> PreviewSession | None:
        """A ready slot for a project of this layout, taken out of the pool; None if there
        is none or the project needs something a slot does not have."""
        if not any(s.status is SessionStatus.ACTIVE and s.sandbox for s in self.slots.values()):
            return None
        package_json = read_package_json(files, layout.package_dir)
        try:
            fit = await best_template(self.settings, package_json)
        except KontextError:
            return None
        if fit.lacking:
            return None
        # The template check awaited: another claim may have taken a slot meanwhile.
        slot = next(
            (
                s
                for s in self.slots.values()
                if s.status is SessionStatus.ACTIVE
                and s.sandbox
                and self.kind[s.id].dir == fit.dir
                and _fits(layout, self.kind[s.id].shape)
            ),
            None,
        )
        if slot is not None:
            self.discard(slot)
        return slot

    def discard(self, slot: PreviewSession) -> bool:
        """Forget a slot (its dev server died, or the node needs the room); False if it
        was not one."""
        self.kind.pop(slot.id, None)
        return self.slots.pop(slot.id, None) is not None

    def give_up(self, count: int) -> list[PreviewSession]:
        """Take up to ``count`` slots out of the pool (the node needs the room); the caller
        removes them."""
        victims = list(self.slots.values())[:count]
        for slot in victims:
            self.discard(slot)
        return victims

    async def aclose(self) -> None:
        self._closed = True
        if self._filler:
            self._filler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._filler
        for slot in self.give_up(len(self.slots)):
            await self._remove(slot)

    async def _fill(self, delay: float) -> None:
        await asyncio.sleep(delay)
        host = self.host
        for template in self.templates:
            while (
                sum(1 for k in self.kind.values() if k is template) < self.size and host.has_room()
            ):
                slot = host.start_slot(template.sample)
                self.slots[slot.id], self.kind[slot.id] = slot, template
                await host.wait_settled(slot, self.settings.startup_timeout_seconds)
                if slot.status is not SessionStatus.ACTIVE:
                    log.warning(
                        "warm pool: a %s slot did not start (%s); not refilling",
                        template.name,
                        slot.error,
                    )
                    self.discard(slot)
                    await self._remove(slot)
                    return
                log.info("warm pool: %s slot %s ready", template.name, slot.id)

    async def _remove(self, slot: PreviewSession) -> None:
        try:
            await self.host.release_slot(slot)
        except Exception:
            log.exception("warm pool: could not remove slot %s", slot.id)


def _fits(layout: ProjectLayout, shape: ProjectLayout) -> bool:
    """A project of ``layout`` can take over a slot whose sample has ``shape``."""
    return (
        layout.vite_root == shape.vite_root
        and layout.package_dir == shape.package_dir
        and layout.framework == shape.framework
        and (layout.config_file is None) == (shape.config_file is None)
    )

"""The warm pool: dev servers started ahead of demand, so a new session skips Vite's start.

A slot is a session in all but name: its own random id, workspace and sandbox, started
on the sample app (``sandbox-images/sample``) at ``KONTEXT_POOL_VITE_ROOT``, with the
template's dependencies. It belongs to nobody, is in no registry, publishes no event and
cannot be reached. A new project of the same shape (the same app folder, a vite.config,
dependencies the template has) *claims* a slot: it becomes the session, its id the
session's id, and its workspace is replaced by the project's files in one batch that the
running Vite takes as ordinary changes. The pool is then refilled in the background, a
moment later, so the new slot's start does not compete with the first page load.
Slots count against the node's running dev servers; a full node gives up slots first.
"""

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from kontext_preview.config import Settings
from kontext_preview.errors import KontextError
from kontext_preview.previews.session import PreviewSession, SessionStatus
from kontext_preview.sandbox.npm import template_lacks
from kontext_preview.workspace.layout import ProjectLayout, detect_layout, read_package_json

if TYPE_CHECKING:
    from kontext_preview.previews.service import PreviewService

log = logging.getLogger(__name__)


def sample_files(settings: Settings) -> dict[str, bytes]:
    """The sample app, placed where projects usually keep theirs."""
    root = settings.sandbox_images_dir / "sample"
    prefix = settings.pool_vite_root.strip("/")
    return {
        "/".join(p for p in (prefix, path.relative_to(root).as_posix()) if p): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


class WarmPool:
    def __init__(self, service: "PreviewService"):
        self.service = service
        self.settings = service.settings
        self.slots: dict[str, PreviewSession] = {}
        self.sample = sample_files(self.settings)
        self.shape = detect_layout(self.sample)
        self._filler: asyncio.Task[None] | None = None
        self._closed = False

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
        ready = [s for s in self.slots.values() if s.status is SessionStatus.ACTIVE and s.sandbox]
        if not ready or not self._fits(layout):
            return None
        package_json = read_package_json(files, layout.package_dir)
        try:
            if await template_lacks(self.settings, package_json):
                return None
        except KontextError:
            return None
        # The template check awaited: another claim may have taken a slot meanwhile.
        slot = next((s for s in ready if s.id in self.slots), None)
        if slot is not None:
            del self.slots[slot.id]
        return slot

    def discard(self, slot: PreviewSession) -> bool:
        """Forget a slot (its dev server died, or the node needs the room); False if it
        was not one."""
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

    def _fits(self, layout: ProjectLayout) -> bool:
        shape = self.shape
        return (
            layout.vite_root == shape.vite_root
            and layout.package_dir == shape.package_dir
            and layout.framework == shape.framework
            and (layout.config_file is None) == (shape.config_file is None)
        )

    async def _fill(self, delay: float) -> None:
        await asyncio.sleep(delay)
        service = self.service
        while len(self.slots) < self.size and service.running_count() < service.capacity:
            slot = service.start_slot(self.sample)
            self.slots[slot.id] = slot
            await service.wait_settled(slot, self.settings.startup_timeout_seconds)
            if slot.status is not SessionStatus.ACTIVE:
                log.warning("warm pool: a slot did not start (%s); not refilling", slot.error)
                self.discard(slot)
                await self._remove(slot)
                return
            log.info("warm pool: slot %s ready (%d of %d)", slot.id, len(self.slots), self.size)

    async def _remove(self, slot: PreviewSession) -> None:
        try:
            await self.service.release_slot(slot)
        except Exception:
            log.exception("warm pool: could not remove slot %s", slot.id)

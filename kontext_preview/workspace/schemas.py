"""Files as the API receives them: ``{name, content, encoding}``."""

import base64
import binascii
from typing import Literal

from pydantic import BaseModel, Field

from kontext_preview.errors import InvalidRequest


class ProjectFile(BaseModel):
    name: str = Field(description="Path relative to the project root, '/' between folders.")
    content: str
    encoding: Literal["utf-8", "utf8", "base64"] = Field(
        default="utf-8", description="'base64' for binary files such as images and favicons."
    )

    def decoded(self) -> bytes:
        if self.encoding != "base64":
            return self.content.encode()
        try:
            return base64.b64decode(self.content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequest(f"file {self.name!r} is not valid base64: {exc}") from exc


def decode_files(files: list[ProjectFile]) -> dict[str, bytes]:
    decoded: dict[str, bytes] = {}
    for item in files:
        if item.name in decoded:
            raise InvalidRequest(f"file {item.name!r} appears twice in the request")
        decoded[item.name] = item.decoded()
    return decoded

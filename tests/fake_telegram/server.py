"""The HTTP side: routes, request decoding, the response envelope, faults and flood limits."""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from .errors import ApiError, NotModelled
from .params import Params, UploadedFile
from .records import CallRecord, UnmodelledCall

if TYPE_CHECKING:
    from .fake import FakeTelegram

logger = logging.getLogger(__name__)


async def read_params(request: web.Request) -> dict[str, Any]:
    """Query string, then the body: multipart/form-data, urlencoded or JSON."""
    params: dict[str, Any] = dict(request.query)
    if not request.body_exists:
        return params
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                data = await part.read()
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                params[part.name] = UploadedFile(
                    part.name, part.filename, content_type, bytes(data)
                )
            else:
                params[part.name] = await part.text()
    elif request.content_type == "application/x-www-form-urlencoded":
        params.update(await request.post())
    else:
        body = await request.text()
        if body.strip():
            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict):
                params.update(decoded)
    return params


def envelope(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def failure(error: ApiError) -> web.Response:
    return web.json_response(error.to_json(), status=error.error_code)


class ApiServer:
    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.app = web.Application()
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = Params(await read_params(request))
        if request.match_info["token"] != self.fake.token:
            return failure(ApiError(401, "Unauthorized"))
        response, drop = await self.execute(request.match_info["method"], params)
        if drop and request.transport is not None:
            # Close the TCP connection without answering: the client sees a network error.
            request.transport.close()
        return response

    async def execute(self, method_name: str, params: Params) -> tuple[web.Response, bool]:
        """Run one call with faults and flood limits applied; (response, drop connection)."""
        fake = self.fake
        found = fake.api.lookup(method_name)
        if found is None:
            fake.unknown_calls.append(
                UnmodelledCall(method_name, params.as_record(), "unknown method")
            )
            fake.calls.append(
                CallRecord(
                    time.monotonic(),
                    method_name,
                    params.as_record(),
                    None,
                    ok=False,
                    error_code=404,
                    description="Not Found",
                )
            )
            fake.changes.notify()
            return failure(ApiError(404, "Not Found")), False
        method, handler = found
        chat_id = self._chat_id(params)
        record = CallRecord(time.monotonic(), method, params.as_record(), chat_id)
        fake.calls.append(record)
        try:
            drop = fake.faults.take_drop(method, chat_id)
            if drop is not None and not drop.after_effect:
                record.dropped = True
                return web.Response(status=499), True
            created_before = fake.world.bot_messages_created
            try:
                error = fake.faults.take_failure(method, chat_id)
                if error is not None and error.error_code == 429:
                    # Planned or not, a 429 means Telegram holds the chat for retry_after.
                    retry_after = (error.parameters or {}).get("retry_after", 1)
                    fake.limits.penalize(chat_id, int(retry_after))
                error = error or fake.limits.check(method, chat_id)
                if error is not None:
                    raise error
                result = await handler(fake.api, params)
            except ApiError as api_error:
                record.ok = False
                record.error_code = api_error.error_code
                record.description = api_error.description
                return failure(api_error), False
            except NotModelled as missing:
                fake.unknown_calls.append(UnmodelledCall(method, params.as_record(), str(missing)))
                record.ok = False
                record.error_code = 501
                record.description = f"fake_telegram does not model {missing}"
                return failure(ApiError(501, record.description)), False
            except Exception as crash:
                # A bug in the fake must fail the test, not pass as a Telegram error.
                logger.exception("fake_telegram crashed in %s", method)
                reason = f"the fake crashed: {crash!r}"
                fake.unknown_calls.append(UnmodelledCall(method, params.as_record(), reason))
                record.ok = False
                record.error_code = 500
                record.description = reason
                return failure(ApiError(500, "Internal Server Error")), False
            finally:
                fake.limits.consume(chat_id, fake.world.bot_messages_created - created_before)
                record.params = params.as_record()
            record.ok = True
            record.result = result
            if drop is not None:
                record.dropped = True
                return web.Response(status=499), True
            return envelope(result), False
        finally:
            fake.changes.notify()

    def _chat_id(self, params: Params) -> int | str | None:
        if "chat_id" not in params:
            return None
        try:
            chat_id = params.chat_id()
        except ApiError:
            return None
        if isinstance(chat_id, str):
            try:
                return self.fake.world.resolve_chat(chat_id).id
            except ApiError:
                return chat_id
        return chat_id

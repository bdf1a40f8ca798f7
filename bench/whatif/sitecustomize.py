"""What-if patches for measuring proposed optimisations without editing the bot.

Loaded by Python at start-up (`sitecustomize`) when bench/_common.py puts this directory on the
bot process's PYTHONPATH, which it does when BENCH_WHATIF is set: a comma-separated list of

- `pin`: keep aiogram's `Response[...]` classes for the return types on the relay's hot path
  alive. pydantic caches parametrised generics in a WeakValueDictionary, so without a strong
  reference the class aiogram builds per call (`Response[method.__returning__]`) is collected
  by the garbage collector and built again (about 2 ms) after every collection;
- `freeze`: `gc.freeze()` once aiogram is imported: its ~190 000 long-lived objects leave the
  collector's generations (a full collection costs ~150 ms otherwise);
- `inline`: run synchronous filters (aiogram's MagicFilter `F...`) inline instead of through
  `asyncio.to_thread` (aiogram 3.31 sends every sync callable to a thread): what replacing the
  handlers' `F` filters by async filters would give.

Never used by the bot or the tests; only by `BENCH_WHATIF=... python bench/relay.py`.
"""

from __future__ import annotations

import os

_wanted = {w.strip() for w in os.environ.get("BENCH_WHATIF", "").split(",") if w.strip()}

if _wanted:
    import gc
    from typing import Any

    from aiogram import types
    from aiogram.methods.base import Response

    if "pin" in _wanted:
        _PINNED = [
            Response[t]  # type: ignore[valid-type]
            for t in (types.MessageId, types.Message, types.ForumTopic, bool, list[dict[str, Any]])
        ]

    if "inline" in _wanted:
        from aiogram.dispatcher.event.handler import CallableObject

        async def _call(self: CallableObject, *args: Any, **kwargs: Any) -> Any:
            result = self.callback(*args, **self._prepare_kwargs(kwargs))
            if self.awaitable:
                return await result
            return result

        CallableObject.call = _call  # type: ignore[method-assign]

    if "freeze" in _wanted:
        gc.freeze()

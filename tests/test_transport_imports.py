"""The HTTP libraries are patched when the process uses them, never imported for it
(issue 14: openai 3.x never needs httpx, ~20 ms a process)."""

from __future__ import annotations

import sys
import textwrap

import pytest


def test_a_library_imported_inside_a_handler_is_patched_and_none_imported_for_it(
    pytester: pytest.Pytester,
) -> None:
    import openai

    if int(openai.__version__.split(".")[0]) < 3:
        pytest.skip("openai 1.x/2.x run on httpx: it is imported with the SDK")
    probe = pytester.makepyfile(
        probe=textwrap.dedent(
            """
            import asyncio
            import sys
            import openai  # openai 3.x: httpx2 only
            from pytest_llm import FakeProvider
            from pytest_llm.transport import _patch

            assert "httpx2" in sys.modules and "httpx" not in sys.modules
            ask = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            with FakeProvider(check_unused=False):
                client = openai.OpenAI(api_key="sk-test", max_retries=0)
                reply = client.chat.completions.create(**ask)
                print("openai:", bool(reply.choices[0].message.content))
                print("httpx imported for us:", "httpx" in sys.modules)
                import httpx  # a library imported while the handler is active

                response = httpx.Client().post(
                    "https://api.openai.com/v1/chat/completions",
                    json=ask,
                    headers={"authorization": "Bearer sk-test"},
                )
                print("httpx answered by the fake:", response.status_code,
                      "choices" in response.json())

                async def ask_async():
                    async with httpx.AsyncClient() as client:
                        return await client.post(
                            "https://api.openai.com/v1/chat/completions",
                            json=ask,
                            headers={"authorization": "Bearer sk-test"},
                        )

                response = asyncio.run(ask_async())
                print("async httpx answered by the fake:", response.status_code)
                print("patched:", sorted(_patch.installed_libraries()))
            print("after:", _patch.installed_libraries(),
                  [type(f).__name__ for f in sys.meta_path if "WhenImported" in type(f).__name__])
            """
        )
    )
    run = pytester.run(sys.executable, str(probe))
    assert run.ret == 0, run.stderr.str()
    assert run.stdout.lines == [
        "openai: True",
        "httpx imported for us: False",
        "httpx answered by the fake: 200 True",
        "async httpx answered by the fake: 200",
        "patched: ['httpx', 'httpx2']",
        "after: [] []",
    ]

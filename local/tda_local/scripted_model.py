"""A scripted model server: answers the OpenAI chat-completions and Anthropic messages APIs with
records that follow the JSON schema it is sent, so the LLM path can be tried, tested and
benchmarked with no model and no network. Not a model: its values are plausible, varied by
record number, and always the same for the same request.

    python -m tda_local.scripted_model --port 8400 [--seconds-per-token 0.01]
    LLM_BASE_URL=http://127.0.0.1:8400/v1 tda generate cart --count 5 --context "..."
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_WORDS = {
    "name": [
        "Trail Running Shoes",
        "Merino Running Socks",
        "Insulated Water Bottle",
        "GPS Fitness Watch",
        "Compression Tights",
        "Foam Roller",
        "Hydration Vest",
    ],
    "category": ["Athletic Footwear", "Activewear", "Fitness Accessories", "Fitness Electronics"],
    "title": [
        "Comfy from day one",
        "Not what I expected",
        "Solid buy",
        "Great for long runs",
        "Runs a bit small",
        "Would buy again",
    ],
    "body": [
        "Wore these on a 10k and my feet felt fine the whole way. Sizing is true.",
        "The color is off from the photos and the seams frayed after two washes.",
        "Does the job. Nothing fancy, fair price, shipping was quick.",
        "Light, breathable, and the grip on wet pavement is honestly impressive.",
    ],
    "first_name": ["Maya", "Jordan", "Priya", "Luis", "Hana", "Tomasz", "Aisha", "Noah"],
    "last_name": ["Okafor", "Lindqvist", "Reyes", "Nakamura", "Brennan", "Haddad", "Kowalski"],
    "brand": ["Brooks", "Garmin", "Hydro Flask", "Nike", "Asics"],
    "description": ["Breathable mesh upper with a cushioned midsole for daily miles."],
}
_INDEX_RANGE = re.compile(r"_index (\d+) to (\d+)")
_REPAIR = re.compile(r'"_index":\s*(\d+)')


def _rng(seed_text: str) -> int:
    return int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "big")


def value_for(name: str, schema: dict[str, Any], n: int) -> Any:
    """A value for one field of record ``n`` that its schema allows."""
    if "enum" in schema:
        return schema["enum"][n % len(schema["enum"])]
    kind = schema.get("type")
    if kind == "integer":
        lo, hi = int(schema.get("minimum", 1)), int(schema.get("maximum", 5))
        assert lo <= hi
        if name == "quantity":
            hi = min(hi, 3)
        return lo + n % (hi - lo + 1)
    if kind == "number":
        low = float(schema.get("minimum", 1.0))
        high = float(schema.get("maximum", low + 250.0))
        return round(min(high, max(low, 12.99 + (n * 37 % 180))), 2)
    if kind == "boolean":
        return n % 3 != 0
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), min(int(schema.get("maxItems", 3)), 2 + n % 3))
        return [value_for(name, schema["items"], n * 7 + k) for k in range(count)]
    if kind == "object":
        return {k: value_for(k, v, n) for k, v in schema.get("properties", {}).items()}
    words = _WORDS.get(name) or [f"{name.replace('_', ' ').title()}"]
    text = (
        f"{words[n % len(words)]} {n}"
        if name not in ("first_name", "last_name")
        else words[n % len(words)]
    )
    limit = schema.get("maxLength")
    return text[:limit] if limit else text


def records_answer(schema: dict[str, Any], prompt: str) -> dict[str, Any]:
    record_schema = schema["properties"]["records"]["items"]
    found = _INDEX_RANGE.search(prompt)
    if found:
        indices = list(range(int(found.group(1)), int(found.group(2)) + 1))
    else:  # a repair: the records it names
        indices = sorted({int(i) for i in _REPAIR.findall(prompt)}) or [0]
    scenario = re.findall(r'_index (\d+)-(\d+): _scenario "([^"]+)"', prompt)
    records = []
    for i in indices:
        record = {k: value_for(k, v, i) for k, v in record_schema["properties"].items()}
        record["_index"] = i
        record["_scenario"] = next(
            (s for lo, hi, s in scenario if int(lo) <= i <= int(hi)), "default"
        )
        records.append(record)
    return {"records": records}


def catalog_answer(prompt: str) -> dict[str, Any]:
    n = _rng(prompt) % 1000
    return {
        "occasions": [
            {
                "name": f"{theme}",
                "keywords": [theme, "running", "fitness"],
                "products": [
                    {
                        "name": f"{item}",
                        "category": category,
                        "code": item[:4].upper(),
                        "price_low": 10 + (n + k) % 30,
                        "price_high": 60 + (n + k * 13) % 140,
                        "sizes": ["S", "M", "L"],
                        "brands": ["Brooks", "Asics", "Garmin"],
                    }
                    for k, (item, category) in enumerate(products)
                ],
            }
            for theme, products in (
                (
                    "marathon_training",
                    [
                        ("Carbon Race Shoes", "Athletic Footwear"),
                        ("Energy Gel Pack", "Nutrition"),
                        ("Running Belt", "Fitness Accessories"),
                    ],
                ),
                (
                    "trail_running",
                    [
                        ("Trail Shoes", "Athletic Footwear"),
                        ("Hydration Vest", "Fitness Accessories"),
                        ("Merino Socks", "Activewear"),
                    ],
                ),
                (
                    "recovery",
                    [("Foam Roller", "Fitness Accessories"), ("Compression Sleeves", "Activewear")],
                ),
            )
        ]
    }


def review_phrases_answer(prompt: str) -> dict[str, Any]:
    about = "these shoes"
    bank = {
        "negative": ["Fell apart", "Not for long runs", "Blisters every time"],
        "neutral": ["Fine for the price", "Okay for short runs", "Does the job"],
        "positive": ["My new race-day pair", "Light and fast", "Worth every penny"],
    }
    return {
        "titles": bank,
        "bodies": {
            sentiment: [f"{phrase}: {about}, mile {k}." for k, phrase in enumerate(phrases * 2)]
            for sentiment, phrases in bank.items()
        },
    }


def answer_for(schema: dict[str, Any], prompt: str) -> dict[str, Any]:
    if "occasions" in schema.get("properties", {}):
        return catalog_answer(prompt)
    if "titles" in schema.get("properties", {}):
        return review_phrases_answer(prompt)
    if "first_names" in schema.get("properties", {}):
        return {
            "first_names": ["Darnell", "Kayla", "Brent", "Megan", "Tyrone", "Ashley", "Cody"],
            "last_names": ["Kowalczyk", "Yoder", "Hostetler", "Washington", "Schmidt", "Miller"],
        }
    return records_answer(schema, prompt)


def chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    prompt = body["messages"][-1]["content"]
    fmt = body.get("response_format") or {}
    schema = fmt.get("schema") or fmt.get("json_schema", {}).get("schema")
    if schema is None:  # plain text mode: the schema is only in the prompt; answer records
        schema = {"properties": {"records": {"items": {"properties": {}}}}}
    text = json.dumps(answer_for(schema, prompt))
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "scripted"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": sum(len(m["content"]) for m in body["messages"]) // 4,
            "completion_tokens": len(text) // 4,
            "total_tokens": 0,
        },
    }


def message(body: dict[str, Any]) -> dict[str, Any]:
    prompt = body["messages"][-1]["content"]
    tool = body["tools"][0]
    data = answer_for(tool["input_schema"], prompt)
    system = "".join(block["text"] for block in body.get("system", []))
    return {
        "id": "msg_scripted",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "scripted"),
        "content": [{"type": "tool_use", "id": "toolu_1", "name": tool["name"], "input": data}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": len(prompt) // 4,
            "output_tokens": len(json.dumps(data)) // 4,
            "cache_read_input_tokens": len(system) // 4,
            "cache_creation_input_tokens": 0,
        },
    }


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive, as model servers do: HTTP/1.0's connection a call would put a TCP connect's
    # CPU into what the benchmark counts as the service's.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms ACK stall
    seconds_per_token = 0.0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        if self.path.endswith("/chat/completions"):
            answer = chat_completion(body)
            tokens = answer["usage"]["completion_tokens"]
        elif self.path.endswith("/messages"):
            answer = message(body)
            tokens = answer["usage"]["output_tokens"]
        else:
            self.send_error(404)
            return
        time.sleep(tokens * self.seconds_per_token)
        raw = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        return


def start(port: int = 0, seconds_per_token: float = 0.0) -> ThreadingHTTPServer:
    """A running server on loopback (port 0: any free one), serving from a daemon thread."""
    handler = type("Handler", (_Handler,), {"seconds_per_token": seconds_per_token})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument("--seconds-per-token", type=float, default=0.0)
    args = parser.parse_args()
    server = start(args.port, args.seconds_per_token)
    print(f"scripted model on http://127.0.0.1:{server.server_port}/v1", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()

"""The provider's error codes and messages that the simulator can answer with.

The general codes (1-111, 216xxx, 282xxx) are shared by every ``/rest/2.0/ocr`` API; the
336xxx codes belong to the custom (BML) model endpoints, whose messages the seed's table gives
partly in Chinese, copied verbatim here since that is what clients will log.
"""

from __future__ import annotations

from typing import Any

MESSAGES: dict[int, str] = {
    1: "Unknown error",
    2: "Service temporarily unavailable",
    3: "Unsupported openapi method",
    4: "Open api request limit reached",
    6: "No permission to access data",
    14: "IAM Certification failed",
    17: "Open api daily request limit reached",
    18: "Open api qps request limit reached",
    19: "Open api total request limit reached",
    100: "Invalid parameter",
    110: "Access token invalid or no longer valid",
    111: "Access token expired",
    216100: "invalid param",
    216101: "param image not exist",
    216201: "image format error",
    216202: "image size error",
    216630: "recognize error",
    216634: "detect error",
    282000: "internal error",
    282003: "missing parameters: task_id",
    282111: "url format illegal",
    282112: "url download timeout",
    282808: "request id not exist",
    282810: "image recognize error",
    336000: "Internal error",
    336001: "Invalid Argument",
    336002: "JSON不合法",
    336003: "Base64解码失败",
    336004: "输入文件大小不合法",
    336005: "图片解码失败",
    336006: "缺失必要参数",
    336100: "model temporarily unavailable",
}


def error_body(code: int, log_id: int, message: str | None = None) -> dict[str, Any]:
    """An error answer in the provider's shape: integer code, HTTP 200."""
    return {
        "log_id": log_id,
        "error_msg": message if message is not None else MESSAGES.get(code, "Unknown error"),
        "error_code": code,
    }

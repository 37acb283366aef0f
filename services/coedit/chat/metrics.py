from prometheus_client import Counter, Gauge

MESSAGES_POSTED = Counter("coedit_chat_messages_total", "Chat messages stored, by type", ["type"])
SSE_READERS = Gauge("coedit_chat_sse_readers", "SSE readers connected to this process")

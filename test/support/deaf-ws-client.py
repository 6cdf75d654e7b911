"""A WebSocket client that never reads: it shrinks its receive buffer so the kernel cannot hide
the problem, completes the handshake, then writes masked text frames until the gateway stops
reading from it (no write progress for `stall` seconds) or `limit` frames are written.
Prints one JSON line {"written": n, "blocked": bool}. Usage: deaf-ws-client.py PORT [limit] [stall]"""
import base64, json, os, select, socket, sys, time

port = int(sys.argv[1])
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
stall = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
time.sleep(0.2)
s.setblocking(False)

def frame(text):
    data = text.encode()
    mask = os.urandom(4)
    n = len(data)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126, n >> 8, n & 0xFF])
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))

written, pending, last_progress, blocked = 0, b"", time.time(), False
while written < limit:
    if not pending:
        pending = frame(json.dumps({"device_id": "deaf", "group_id": "g", "boot_id": "b", "seq": written, "pad": "x" * 60}))
        written += 1
    _, w, _ = select.select([], [s], [], 0.2)
    if w:
        try:
            sent = s.send(pending)
            pending = pending[sent:]
            if sent:
                last_progress = time.time()
        except BlockingIOError:
            pass
    if time.time() - last_progress > stall:
        blocked = True
        break
print(json.dumps({"written": written, "blocked": blocked}), flush=True)
time.sleep(float(os.environ.get("HOLD_SECONDS", "0")))

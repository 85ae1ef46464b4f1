#!/usr/bin/python3
# A scriptable HTTP/2 client for the integration tests (Debian's python3-h2, over a raw socket): one
# connection, the steps given as arguments, one line printed per event, so a test can assert what the
# proxy sent. Steps:
#   get PATH [NAME=VALUE ...]    a request with END_STREAM on its HEADERS; waits for its end
#   raw PATH NAME=VALUE ...      the same without the client's header validation (malformed on purpose)
#   post PATH N [NAME=VALUE ...] a POST of N bytes (in DATA frames of at most 1,000), no content-length,
#                                then the fields as trailers with END_STREAM; waits for its end
#   reset-after-head PATH        a request reset by the client (CANCEL) once its response head arrived
#   rapid-reset N PATH           N requests, each reset by the client right after its HEADERS (Rapid
#                                Reset), sent in batches; then reads until GOAWAY or the close
#   made-you-reset N PATH        N requests with an uppercase field name, which the server must reset
#                                itself ("MadeYouReset"); then reads until GOAWAY or the close
#   shut-window PATH             a request from a client whose stream window is 0 (it takes no DATA);
#                                reads until the stream ends or is reset
#   stall PATH SECONDS           a request with the windows wide open, then nothing read for SECONDS;
#                                then reads to the close
#   wait-goaway                  reads until the server's GOAWAY (or the connection ends)
# Output lines: "head STREAM STATUS", "response STREAM BODYBYTES", "body LINE" for each line of a short
# response body, "reset STREAM CODE",
# "goaway LAST_STREAM CODE", "sent-reset STREAM", "closed".
import socket
import sys

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import time

port = int(sys.argv[1])
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                                            normalize_outbound_headers=False))
conn.initiate_connection()
# A large connection window: DATA of a stream reset mid-response still counts against it, and is never
# acknowledged (h2 drops it), so a later stream must not starve behind it.
conn.increment_flow_control_window(1 << 30)
sock.sendall(conn.data_to_send())
closed = False


def pump(until):
    """Reads and handles events until until(event) is true for one of them."""
    global closed
    bodies = {}
    texts = {}
    while not closed:
        data = sock.recv(65536)
        if not data:
            print("closed", flush=True)
            closed = True
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                bodies[event.stream_id] = bodies.get(event.stream_id, 0) + len(event.data)
                if bodies[event.stream_id] <= 4096:
                    texts[event.stream_id] = texts.get(event.stream_id, b"") + event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.ResponseReceived):
                status = dict(event.headers)[b":status"].decode()
                bodies.setdefault(event.stream_id, 0)
                print("head", event.stream_id, status, flush=True)
            elif isinstance(event, h2.events.StreamEnded):
                print("response", event.stream_id, bodies.get(event.stream_id, 0), flush=True)
                for line in texts.get(event.stream_id, b"").decode(errors="replace").splitlines():
                    print("body", line, flush=True)
            elif isinstance(event, h2.events.StreamReset):
                print("reset", event.stream_id, int(event.error_code), flush=True)
            elif isinstance(event, h2.events.ConnectionTerminated):
                print("goaway", event.last_stream_id, int(event.error_code), flush=True)
            if until(event):
                sock.sendall(conn.data_to_send())
                return
        sock.sendall(conn.data_to_send())


def request(path, fields, end_stream):
    stream = conn.get_next_available_stream_id()
    headers = [(":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1"), (":path", path)]
    headers += [tuple(f.split("=", 1)) for f in fields]
    conn.send_headers(stream, headers, end_stream=end_stream)
    sock.sendall(conn.data_to_send())
    return stream


def ends(stream):
    return lambda e: (isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == stream) \
        or isinstance(e, h2.events.ConnectionTerminated)


args = sys.argv[2:]
i = 0
while i < len(args) and not closed:
    step = args[i]
    fields = []
    j = i + 2
    while j < len(args) and "=" in args[j]:
        fields.append(args[j])
        j += 1
    if step in ("get", "raw"):
        pump(ends(request(args[i + 1], fields, True)))
    elif step == "post":
        size = int(args[i + 2])
        fields = []
        j = i + 3
        while j < len(args) and "=" in args[j]:
            fields.append(args[j])
            j += 1
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":authority", "127.0.0.1"),
                                   (":path", args[i + 1])])
        sent = 0
        while sent < size:
            n = min(1000, size - sent, conn.local_flow_control_window(stream))
            if n == 0:
                sock.sendall(conn.data_to_send())
                pump(lambda e: isinstance(e, h2.events.WindowUpdated))
                continue
            conn.send_data(stream, b"x" * n)
            sent += n
        conn.send_headers(stream, [tuple(f.split("=", 1)) for f in fields], end_stream=True)
        sock.sendall(conn.data_to_send())
        pump(ends(stream))
    elif step == "reset-after-head":
        stream = request(args[i + 1], fields, True)
        pump(lambda e: (isinstance(e, h2.events.ResponseReceived) and e.stream_id == stream)
             or isinstance(e, h2.events.ConnectionTerminated))
        conn.reset_stream(stream, error_code=8)
        sock.sendall(conn.data_to_send())
        print("sent-reset", stream, flush=True)
    elif step in ("rapid-reset", "made-you-reset"):
        count = int(args[i + 1])
        path = args[i + 2]
        j = i + 3
        extra = [("x-Upper", "1")] if step == "made-you-reset" else []
        try:
            for n in range(count):
                stream = conn.get_next_available_stream_id()
                conn.send_headers(stream, [(":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1"),
                                           (":path", path)] + extra, end_stream=True)
                if step == "rapid-reset":
                    conn.reset_stream(stream, error_code=8)
                if n % 50 == 49:
                    sock.sendall(conn.data_to_send())
            sock.sendall(conn.data_to_send())
            print("sent", count, flush=True)
            pump(lambda e: isinstance(e, h2.events.ConnectionTerminated))
        except (OSError, h2.exceptions.ProtocolError) as error:
            print("closed", type(error).__name__, flush=True)
            closed = True
    elif step == "shut-window":
        conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        sock.sendall(conn.data_to_send())
        pump(ends(request(args[i + 1], fields, True)))
    elif step == "stall":
        # Windows wide open: only the socket buffers stop the server's writes.
        conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: (1 << 31) - 1})
        sock.sendall(conn.data_to_send())
        request(args[i + 1], [], True)
        time.sleep(float(args[i + 2]))
        j = i + 3
        try:
            while not closed:
                pump(lambda e: False)
        except OSError as error:
            print("closed", type(error).__name__, flush=True)
            closed = True
    elif step == "wait-goaway":
        pump(lambda e: isinstance(e, h2.events.ConnectionTerminated))
        j = i + 1
    i = j
sock.close()

"""What an injected fault becomes inside a TLS server (`--tls`): the TLS
state its library hands the server, named in every FAIL and WARN under TLS
(report.json `tls_state`, the terminal table). One table, OpenSSL's names;
other TLS libraries have the same states."""

# One table, used by the report and `explain`: the fault the shim injects on
# the socket under a TLS server, and the TLS state the server's TLS library
# then hands it (OpenSSL's names; other libraries have the same states).
STATES = {
    "recv.eagain": "an EAGAIN on recv() is SSL_ERROR_WANT_READ from SSL_read (or from SSL_accept/SSL_do_handshake "
                   "during the handshake): nothing now, retry the same call after the next readable event; the "
                   "connection and its TLS state stay",
    "recv.partial": "a short recv() is a partial TLS record: OpenSSL keeps the bytes it has and SSL_read returns "
                    "SSL_ERROR_WANT_READ until the rest of the record arrives",
    "recv.eintr": "an EINTR on recv() is SSL_ERROR_SYSCALL with errno EINTR (or an OpenSSL retry): the read must "
                  "be retried, not treated as fatal",
    "recv.reset": "an ECONNRESET on recv() is SSL_ERROR_SYSCALL from SSL_read or the handshake: that connection "
                  "ends (SSL_free, close), no other",
    "recv.eof": "a TCP end without close_notify is SSL_ERROR_SSL 'unexpected eof while reading' (OpenSSL 3) or "
                "SSL_ERROR_SYSCALL with errno 0: the connection ends",
    "send.eagain": "an EAGAIN on send() is SSL_ERROR_WANT_WRITE from SSL_write (or the handshake): SSL_write must be "
                   "retried after writability with the same buffer and the same length, and write interest armed "
                   "only until it completes",
    "send.partial": "a short send() is a partial TLS record write: SSL_write returns SSL_ERROR_WANT_WRITE (or, with "
                    "SSL_MODE_ENABLE_PARTIAL_WRITE, a count of whole records) and must be retried with the same "
                    "buffer and length until the record is out",
    "send.eintr": "an EINTR on send() is SSL_ERROR_SYSCALL with errno EINTR: retry the same SSL_write",
    "send.epipe": "an EPIPE on send() is SSL_ERROR_SYSCALL from SSL_write or the handshake (and SIGPIPE unless "
                  "ignored or MSG_NOSIGNAL): that connection ends",
    "wait.spurious": "a readiness event with nothing behind it is SSL_ERROR_WANT_READ from SSL_read: wait again",
    "wait.eintr": "an interrupted wait is below OpenSSL: the loop must wait again",
    "accept.": "accept() faults happen before any TLS state: the connection never reaches SSL_accept",
}
EDGE = ("under edge-triggered readiness, plaintext OpenSSL already decrypted and holds (SSL_pending) or a record "
        "it has read whole brings no new edge: the server must call SSL_read until SSL_ERROR_WANT_READ (or check "
        "SSL_pending) before it waits again")
# A case whose point is a TLS state of its own, named before the faults' (the case table's ids).
CASE_STATES = {
    "et.read.drains-until-eagain": EDGE,
    "send.slow-reader.bounded": "a client that stops reading makes SSL_write return SSL_ERROR_WANT_WRITE and keep "
                                "the rest of its record: the retry must pass the same buffer and length (not the "
                                "grown output queue), and input must stop being taken while output is owed",
}


def state_of(fault_head: str) -> str:
    for key, text in STATES.items():
        if fault_head == key or key.endswith(".") and fault_head.startswith(key):
            return text
    return ""


def states_sentence(faults, trigger=None, case_id="") -> str:
    """The TLS states the injected faults of a cell became (faults: the
    compact fault records of a Result), in the order they first fired; the
    case's own TLS state (CASE_STATES) first."""
    heads = []
    for f in faults or []:
        head = str(f.get("fault") or "").split(":", 1)[0]
        if head and head not in heads:
            heads.append(head)
    parts = [f"{h}: {state_of(h)}" for h in heads if state_of(h)]
    if case_id in CASE_STATES:
        parts.insert(0, CASE_STATES[case_id])
    elif trigger == "edge" and any(h in ("recv.eagain", "recv.partial", "wait.spurious") for h in heads):
        parts.append(EDGE)
    if not parts:
        parts = ["no fault was injected: the server mishandled plain TLS traffic (its SSL_read/SSL_write loop, "
                 "SSL_pending under edge-triggered readiness, or its close_notify handling)"]
    return "under TLS, " + "; ".join(parts)

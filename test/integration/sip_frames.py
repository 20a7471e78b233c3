"""SIP over UDP/IPv4 frames written by hand into pcap files, for the operations tests: a few
named messages between test hosts (198.18.0.0/15) and the protected service 198.18.0.10:5060."""
import socket
import struct

SERVER = ("198.18.0.10", 5060)
CLIENT_MAC = bytes.fromhex("020000000001")
SERVER_MAC = bytes.fromhex("020000000002")


def ipv4_checksum(header):
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(src, dst, payload):
    """An Ethernet + IPv4 + UDP frame from (ip, port) `src` to `dst` (UDP checksum 0: none)."""
    data = payload.encode() if isinstance(payload, str) else payload
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(data), 0) + data
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
    header = header[:10] + struct.pack("!H", ipv4_checksum(header)) + header[12:]
    macs = SERVER_MAC + CLIENT_MAC if dst == SERVER else CLIENT_MAC + SERVER_MAC
    return macs + b"\x08\x00" + header + udp


def write_pcap(path, frames, gap_us=1000):
    """Frames 1 ms apart (by default), starting at a fixed time."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            t = 1_767_225_600_000_000 + i * gap_us
            f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(frame), len(frame)))
            f.write(frame)


def request(method, client, user, call_id, cseq=1, agent="softphone/1.0", extra=""):
    host, port = client
    return (f"{method} sip:{SERVER[0]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{call_id}{cseq}\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:{user}@{SERVER[0]}>;tag=f{call_id}\r\n"
            f"To: <sip:{user}@{SERVER[0]}>\r\n"
            f"Call-ID: {call_id}@{host}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:{user}@{host}:{port}>\r\n"
            f"User-Agent: {agent}\r\n"
            f"{extra}"
            f"Content-Length: 0\r\n\r\n")


def register_ok(client, user, call_id, cseq=1, expires=3600):
    """The registrar's 200 OK to `client`'s REGISTER: what teaches the filter to trust it."""
    host, port = client
    return (f"SIP/2.0 200 OK\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{call_id}{cseq}\r\n"
            f"From: <sip:{user}@{SERVER[0]}>;tag=f{call_id}\r\n"
            f"To: <sip:{user}@{SERVER[0]}>;tag=registrar\r\n"
            f"Call-ID: {call_id}@{host}\r\n"
            f"CSeq: {cseq} REGISTER\r\n"
            f"Contact: <sip:{user}@{host}:{port}>;expires={expires}\r\n"
            f"Content-Length: 0\r\n\r\n")

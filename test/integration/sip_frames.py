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


def ipv4_frame(src_ip, dst_ip, proto, l4, to_server):
    """An Ethernet + IPv4 frame around `l4` (protocol number `proto`)."""
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0, 64, proto, 0,
                         socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    header = header[:10] + struct.pack("!H", ipv4_checksum(header)) + header[12:]
    macs = SERVER_MAC + CLIENT_MAC if to_server else CLIENT_MAC + SERVER_MAC
    return macs + b"\x08\x00" + header + l4


def udp_datagram(src, dst, payload):
    data = payload.encode() if isinstance(payload, str) else payload
    return struct.pack("!HHHH", src[1], dst[1], 8 + len(data), 0) + data


def udp_frame(src, dst, payload):
    """An Ethernet + IPv4 + UDP frame from (ip, port) `src` to `dst` (UDP checksum 0: none)."""
    return ipv4_frame(src[0], dst[0], 17, udp_datagram(src, dst, payload), dst == SERVER)


def esp_frame(src, dst, spi, seq, payload=b"", icv=12):
    """Transport-mode ESP (RFC 4303) from `src` to `dst` ((ip, port) pairs: the inner UDP's) with
    null encryption: the UDP datagram in the clear, padding, pad length, next header 17, then
    `icv` zero bytes where the ICV goes."""
    body = struct.pack("!II", spi, seq) + udp_datagram(src, dst, payload)
    pad = (4 - (len(body) + 2) % 4) % 4
    body += bytes(range(1, pad + 1)) + bytes([pad, 17]) + bytes(icv)
    return ipv4_frame(src[0], dst[0], 50, body, dst[0] == SERVER[0])


def security_challenge(client, user, call_id, spi_c, spi_s, ealg="null"):
    """The P-CSCF's 401 to a first REGISTER, with the Security-Server of TS 33.203 sec-agree."""
    host, port = client
    return (f"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{call_id}\r\n"
            f"From: <sip:{user}@example.test>;tag=f{call_id}\r\n"
            f"To: <sip:{user}@example.test>;tag=t{call_id}\r\nCall-ID: {call_id}\r\n"
            "CSeq: 1 REGISTER\r\nWWW-Authenticate: Digest realm=\"example.test\", nonce=\"n1\"\r\n"
            f"Security-Server: ipsec-3gpp; alg=hmac-sha-1-96; ealg={ealg}; spi-c={spi_c}; "
            f"spi-s={spi_s}; port-c=5066; port-s=5064\r\nContent-Length: 0\r\n\r\n")


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

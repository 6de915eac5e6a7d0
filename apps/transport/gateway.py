"""One DNS answering function for both doors: the DoH endpoint (`views.dns_query`) and
the authoritative UDP/TCP server (`manage.py dns_gateway`). dnslib reads and writes the
wire format; `codec` reads the names; `services` does the work.

Bad input gets a DNS error code, never an exception: FORMERR for what is not a DNS query
or not a tunnel name, REFUSED outside the zone and for frames that do not authenticate
(or are stale or replayed), NXDOMAIN for an answer chunk nobody has, SERVFAIL when a
retry may help. No name, frame or answer is ever logged.
"""

import logging

from django.conf import settings
from dnslib import OPCODE, QTYPE, RCODE, RR, TXT, DNSHeader, DNSQuestion, DNSRecord

from apps.core import metrics
from apps.transport import codec, services

logger = logging.getLogger("talkee.transport")

UDP_PLAIN_LIMIT = 512
MAX_QUERY_BYTES = 4096


def _header_only(wire: bytes, rcode: int) -> bytes | None:
    if len(wire) < 12:
        return None
    header = DNSHeader(id=int.from_bytes(wire[:2], "big"), qr=1, aa=1, ra=0, rcode=rcode)
    return bytes(DNSRecord(header).pack())


def refused(wire: bytes) -> bytes | None:
    """REFUSED for a query not looked at (its sender is over its rate)."""
    return _header_only(wire, RCODE.REFUSED)


async def answer(wire: bytes, *, udp: bool) -> bytes | None:
    """The DNS answer to one query message, or None when there is nothing to answer."""
    if len(wire) > MAX_QUERY_BYTES:
        return _header_only(wire, RCODE.FORMERR)
    try:
        query = DNSRecord.parse(wire)
    except Exception:  # dnslib raises several types on garbage; all of it is bad input
        return _header_only(wire, RCODE.FORMERR)
    if query.header.qr:
        return None  # an answer sent to us: never reply to replies
    metrics.DNS_QUERIES.labels(transport="udp" if udp else "tcp_or_doh").inc()
    reply = query.reply(ra=0, aa=1)
    if query.header.opcode != OPCODE.QUERY:
        reply.header.rcode = RCODE.NOTIMP
    elif len(query.questions) != 1:
        reply.header.rcode = RCODE.FORMERR
    else:
        await _answer_question(query.questions[0], reply)
    packed = bytes(reply.pack())
    if udp and len(packed) > _udp_limit(query):
        reply.rr = []
        reply.header.tc = 1
        packed = bytes(reply.pack())
    return packed


def _udp_limit(query: DNSRecord) -> int:
    opt = next((rr for rr in query.ar if rr.rtype == QTYPE.OPT), None)
    return max(UDP_PLAIN_LIMIT, min(int(opt.rclass), 1232)) if opt is not None else UDP_PLAIN_LIMIT


async def _answer_question(question: DNSQuestion, reply: DNSRecord) -> None:
    zone = settings.TALKEE_TUNNEL_ZONE
    name = str(question.qname).rstrip(".").lower()
    if name == zone:
        return  # the apex exists but holds nothing a client asks for (NOERROR, no data)
    try:
        parsed = codec.parse_name(name, zone)
    except codec.NotOurZone:
        reply.header.rcode = RCODE.REFUSED
        return
    except codec.CodecError:
        reply.header.rcode = RCODE.FORMERR
        return
    if question.qtype not in (QTYPE.TXT, QTYPE.ANY):
        return  # the name may exist, but only as TXT
    try:
        if isinstance(parsed, codec.Upload):
            strings = await services.answer_upload(parsed)
        else:
            strings = await services.answer_download(parsed)
    except services.Refused:
        reply.header.rcode = RCODE.REFUSED
        return
    except services.Unknown:
        reply.header.rcode = RCODE.NXDOMAIN
        return
    except services.Busy:
        reply.header.rcode = RCODE.SERVFAIL
        return
    except Exception as exc:
        # The type only: the name and the frame stay out of the log.
        logger.error("tunnel query failed", extra={"error_type": type(exc).__name__})
        reply.header.rcode = RCODE.SERVFAIL
        return
    reply.add_answer(RR(question.qname, QTYPE.TXT, rdata=TXT(strings), ttl=0))

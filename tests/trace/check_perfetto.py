#!/usr/bin/env python3
"""Decodes a Perfetto trace written by mnemo_trace with the `protobuf` package and checks it
against the model it came from (sample.expected.json, written by trace_write_sample).

The decoder is independent of the C++ encoder: the wire format is parsed by protobuf itself,
using a subset of Perfetto's schema declared below (field numbers from
protos/perfetto/trace/{trace,trace_packet}.proto and track_event/{track_event,track_descriptor,
process_descriptor,thread_descriptor,counter_descriptor,debug_annotation}.proto). Any field the
writer emits outside this subset shows up as an unknown field and fails the check.

usage: check_perfetto.py TRACE.pftrace EXPECTED.json"""

import json
import sys
from collections import Counter, defaultdict

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, unknown_fields

F = descriptor_pb2.FieldDescriptorProto

SCHEMA = {
    # message: [(field name, number, type, label, message type or None)]
    "Trace": [("packet", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, "TracePacket")],
    "TracePacket": [
        ("timestamp", 8, F.TYPE_UINT64, F.LABEL_OPTIONAL, None),
        ("trusted_packet_sequence_id", 10, F.TYPE_UINT32, F.LABEL_OPTIONAL, None),
        ("track_event", 11, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, "TrackEvent"),
        ("sequence_flags", 13, F.TYPE_UINT32, F.LABEL_OPTIONAL, None),
        ("track_descriptor", 60, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, "TrackDescriptor"),
    ],
    "TrackDescriptor": [
        ("uuid", 1, F.TYPE_UINT64, F.LABEL_OPTIONAL, None),
        ("name", 2, F.TYPE_STRING, F.LABEL_OPTIONAL, None),
        ("process", 3, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, "ProcessDescriptor"),
        ("thread", 4, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, "ThreadDescriptor"),
        ("parent_uuid", 5, F.TYPE_UINT64, F.LABEL_OPTIONAL, None),
        ("counter", 8, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, "CounterDescriptor"),
    ],
    "ProcessDescriptor": [
        ("pid", 1, F.TYPE_INT32, F.LABEL_OPTIONAL, None),
        ("process_name", 6, F.TYPE_STRING, F.LABEL_OPTIONAL, None),
    ],
    "ThreadDescriptor": [
        ("pid", 1, F.TYPE_INT32, F.LABEL_OPTIONAL, None),
        ("tid", 2, F.TYPE_INT32, F.LABEL_OPTIONAL, None),
        ("thread_name", 5, F.TYPE_STRING, F.LABEL_OPTIONAL, None),
    ],
    "CounterDescriptor": [
        ("type", 1, F.TYPE_INT32, F.LABEL_OPTIONAL, None),
        ("unit", 3, F.TYPE_INT32, F.LABEL_OPTIONAL, None),
    ],
    "TrackEvent": [
        ("debug_annotations", 4, F.TYPE_MESSAGE, F.LABEL_REPEATED, "DebugAnnotation"),
        ("type", 9, F.TYPE_INT32, F.LABEL_OPTIONAL, None),
        ("track_uuid", 11, F.TYPE_UINT64, F.LABEL_OPTIONAL, None),
        ("categories", 22, F.TYPE_STRING, F.LABEL_REPEATED, None),
        ("name", 23, F.TYPE_STRING, F.LABEL_OPTIONAL, None),
        ("counter_value", 30, F.TYPE_INT64, F.LABEL_OPTIONAL, None),
        ("double_counter_value", 44, F.TYPE_DOUBLE, F.LABEL_OPTIONAL, None),
        ("flow_ids", 47, F.TYPE_FIXED64, F.LABEL_REPEATED, None),
    ],
    "DebugAnnotation": [
        ("bool_value", 2, F.TYPE_BOOL, F.LABEL_OPTIONAL, None),
        ("uint_value", 3, F.TYPE_UINT64, F.LABEL_OPTIONAL, None),
        ("int_value", 4, F.TYPE_INT64, F.LABEL_OPTIONAL, None),
        ("double_value", 5, F.TYPE_DOUBLE, F.LABEL_OPTIONAL, None),
        ("string_value", 6, F.TYPE_STRING, F.LABEL_OPTIONAL, None),
        ("name", 10, F.TYPE_STRING, F.LABEL_OPTIONAL, None),
    ],
}
TYPE_SLICE_BEGIN, TYPE_SLICE_END, TYPE_INSTANT, TYPE_COUNTER = 1, 2, 3, 4
SEQ_INCREMENTAL_STATE_CLEARED = 1


def trace_class():
    fd = descriptor_pb2.FileDescriptorProto(name="perfetto_subset.proto", package="perfetto.protos",
                                            syntax="proto2")
    for msg, fields in SCHEMA.items():
        m = fd.message_type.add(name=msg)
        for name, number, ftype, label, type_name in fields:
            f = m.field.add(name=name, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = ".perfetto.protos." + type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("perfetto.protos.Trace"))


class Checker:
    def __init__(self):
        self.failures = 0
        self.passes = 0

    def eq(self, what, got, want):
        if got == want:
            self.passes += 1
        else:
            self.failures += 1
            print(f"FAIL {what}: got {got!r}, want {want!r}", file=sys.stderr)

    def true(self, what, cond):
        self.eq(what, bool(cond), True)


def unknown_field_paths(msg, path="Trace"):
    out = []
    if len(unknown_fields.UnknownFieldSet(msg)):
        out.append(f"{path}: fields {[f.field_number for f in unknown_fields.UnknownFieldSet(msg)]}")
    for fd, value in msg.ListFields():
        if fd.type == F.TYPE_MESSAGE:
            items = value if fd.is_repeated else [value]
            for i, v in enumerate(items):
                out += unknown_field_paths(v, f"{path}.{fd.name}[{i}]")
    return out


def annotations(event):
    out = {}
    for a in event.debug_annotations:
        set_values = [fd.name for fd, _ in a.ListFields() if fd.name != "name"]
        assert len(set_values) == 1, f"annotation {a.name!r} has values {set_values}"
        out[a.name] = getattr(a, set_values[0])
    return out


def main(trace_path, expected_path):
    expected = json.load(open(expected_path, encoding="utf-8"))
    trace = trace_class()()
    trace.ParseFromString(open(trace_path, "rb").read())
    c = Checker()
    packets = list(trace.packet)

    c.eq("unknown fields", unknown_field_paths(trace), [])
    n_tracks, n_slices, n_counters = len(expected["tracks"]), len(expected["slices"]), len(expected["counters"])
    c.eq("packet count", len(packets), n_tracks + (1 if expected["metadata"] else 0) + 2 * n_slices + n_counters)
    seq_ids = {p.trusted_packet_sequence_id for p in packets}
    c.eq("one non-zero sequence id", (len(seq_ids), 0 in seq_ids), (1, False))
    c.eq("first packet clears incremental state", packets[0].sequence_flags, SEQ_INCREMENTAL_STATE_CLEARED)
    c.eq("only the first packet has sequence_flags", [i for i, p in enumerate(packets) if p.HasField("sequence_flags")], [0])

    # Track descriptors first, in model order.
    descs = [p.track_descriptor for p in packets[:n_tracks]]
    c.eq("descriptor packets", [p.HasField("track_descriptor") for p in packets[:n_tracks]], [True] * n_tracks)
    counter_tracks, known = set(), set()
    for d, t in zip(descs, expected["tracks"]):
        w = f"track {t['id']}"
        c.eq(f"{w} uuid", d.uuid, t["id"])
        c.eq(f"{w} name", d.name, t["name"])
        c.eq(f"{w} parent", d.parent_uuid if d.HasField("parent_uuid") else None, t["parent"])
        c.eq(f"{w} counter descriptor", d.HasField("counter"), t["counter"])
        if t["tid"] is not None:
            c.eq(f"{w} thread", (d.thread.pid, d.thread.tid, d.thread.thread_name), (t["pid"], t["tid"], t["name"]))
            c.true(f"{w} no process descriptor", not d.HasField("process"))
        elif t["pid"] is not None:
            c.eq(f"{w} process", (d.process.pid, d.process.process_name), (t["pid"], t["name"]))
            c.true(f"{w} no thread descriptor", not d.HasField("thread"))
        else:
            c.true(f"{w} no process/thread", not d.HasField("thread") and not d.HasField("process"))
        known.add(d.uuid)
        if t["counter"]:
            counter_tracks.add(d.uuid)

    rest = packets[n_tracks:]
    if expected["metadata"]:
        m = rest[0].track_event
        c.eq("metadata event", (m.type, m.name, m.HasField("track_uuid")), (TYPE_INSTANT, "trace metadata", False))
        c.eq("metadata values", annotations(m), expected["metadata"])
        rest = rest[1:]

    # Slices: BEGIN/END pairs per track, matched with a stack; counters as samples.
    times = [p.timestamp for p in rest]
    c.eq("event timestamps non-decreasing", times, sorted(times))
    c.true("every event packet has a timestamp", all(p.HasField("timestamp") for p in rest))
    stacks = defaultdict(list)
    slices, counters = [], []
    for p in rest:
        e = p.track_event
        c.true(f"event at {p.timestamp} on a described track", e.track_uuid in known)
        if e.type == TYPE_SLICE_BEGIN:
            c.true("slice on a slice track", e.track_uuid not in counter_tracks)
            stacks[e.track_uuid].append((p.timestamp, e))
        elif e.type == TYPE_SLICE_END:
            c.eq("END carries no name", e.HasField("name"), False)
            if not stacks[e.track_uuid]:
                c.true(f"END at {p.timestamp} on track {e.track_uuid} has a BEGIN", False)
                continue
            start, b = stacks[e.track_uuid].pop()
            flows = list(b.flow_ids)
            slices.append({"track": e.track_uuid, "name": b.name,
                           "category": b.categories[0] if b.categories else "",
                           "start_ns": start, "end_ns": p.timestamp, "args": annotations(b),
                           "flow_id": flows[0] if flows else None})
            c.true("at most one category", len(b.categories) <= 1)
        elif e.type == TYPE_COUNTER:
            c.true("counter on a counter track", e.track_uuid in counter_tracks)
            c.true("double counter value", e.HasField("double_counter_value"))
            counters.append({"track": e.track_uuid, "t_ns": p.timestamp, "value": e.double_counter_value})
        else:
            c.true(f"unexpected event type {e.type}", False)
    c.eq("every BEGIN has an END", {k: len(v) for k, v in stacks.items() if v}, {})

    key = lambda d: json.dumps(d, sort_keys=True, ensure_ascii=False)
    c.eq("slices", Counter(map(key, slices)), Counter(map(key, expected["slices"])))
    c.eq("counters", Counter(map(key, counters)), Counter(map(key, expected["counters"])))

    print(f"perfetto: {len(packets)} packets, {len(slices)} slices, {len(counters)} counter samples")
    print(f"{c.passes} passed, {c.failures} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))

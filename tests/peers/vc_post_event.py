#!/usr/bin/env python3
"""Posts a vCenter event into vcsim with pyVmomi (EventManager.PostEvent), for the examples'
end-to-end tests: vcsim 0.24.2 has no AlarmManager and does not emit migration events, and
govc 0.24.2 has no command that posts events.

    vc_post_event.py --url https://user:pass@127.0.0.1:PORT/sdk alarm-status \
        --alarm-name NAME [--alarm-moref alarm-1] --entity INVENTORY/PATH \
        --from green --to red [--message TEXT]
    vc_post_event.py --url ... vm-migrated --vm INVENTORY/PATH --source-host INVENTORY/PATH [--drs|--ha]
    vc_post_event.py --url ... host-maintenance --host INVENTORY/PATH

``alarm-status`` posts an AlarmStatusChangedEvent on the entity (a cluster, host, VM or
datastore found by its inventory path, e.g. /DC0/host/DC0_C0), with the datacenter and (for
clusters and hosts) the compute resource filled in as vCenter does; ``--message`` sets
FullFormattedMessage (vcsim has no template for this event and keeps what is posted).
``vm-migrated`` posts a VmMigratedEvent (DrsVmMigratedEvent with ``--drs``) for a VM, whose
``host`` is the VM's current host (the destination) and ``sourceHost`` the given one
(VmRestartedOnAlternateHostEvent, HA's restart on another host, with ``--ha``). vcsim
0.24.2 records the DRS and HA events, but a posted VmMigratedEvent crashes the request (its
message template in vcsim is malformed: ``{{.SourceHost.Name}, ...``), so plain migrations cannot
be posted there.
``host-maintenance`` posts what vCenter records when a host has finished entering or leaving
maintenance mode: EnteredMaintenanceModeEvent when the host is in maintenance mode now (after
``govc host.maintenance.enter``), ExitMaintenanceModeEvent otherwise (vcsim 0.24.2 changes the
host's state for those govc commands but records no event).
``dvs-reconfigured`` posts the DvsReconfiguredEvent vCenter records for a ReconfigureDvs_Task
on a distributed switch (vcsim 0.24.2 records none): its configSpec is a
VMwareDVSConfigSpec with the switch's configVersion and ``--max-mtu``, the other fields left out
as a client that changes only the MTU leaves them.
``task`` posts the TaskEvent vCenter records when a task is queued (vcsim 0.24.2 records none):
its TaskInfo (key and Task ``--task-key``, ``--method`` e.g. ReconfigVM_Task, the VM as entity,
state queued, a user as reason), progress, start and completion left out as at queueing.
``event-ex`` posts an EventEx ``--type-id`` on a VM with ``--arg key=value`` arguments
(KeyAnyValue; a value that is an integer travels as xsd:int, true/false as xsd:boolean, one with
commas as an ArrayOfString, anything else as xsd:string).

Prints one JSON line: {"type": ..., "key": the event's key as vcsim recorded it}.
"""

import argparse
import datetime
import json
import sys

from pyVim.connect import Disconnect
from pyVmomi import vim

from vc_connect import connect


def find(si, path):
    obj = si.content.searchIndex.FindByInventoryPath(path)
    if obj is None:
        raise SystemExit("vc_post_event.py: no inventory object at %s" % path)
    return obj


def datacenter_of(obj):
    parent = obj
    while parent is not None and not isinstance(parent, vim.Datacenter):
        parent = parent.parent
    return parent


def common(event, obj):
    """The Event base arguments vCenter fills in for an object of the inventory. The key, chain
    id, time and user are required by the type; vcsim replaces them with its own."""
    event.key = 0
    event.chainId = 0
    event.createdTime = datetime.datetime.now(datetime.timezone.utc)
    event.userName = ""
    dc = datacenter_of(obj)
    if dc is not None:
        event.datacenter = vim.event.DatacenterEventArgument(name=dc.name, datacenter=dc)
    if isinstance(obj, vim.ComputeResource):
        event.computeResource = vim.event.ComputeResourceEventArgument(name=obj.name, computeResource=obj)
    if isinstance(obj, vim.HostSystem):
        event.host = vim.event.HostEventArgument(name=obj.name, host=obj)
        event.computeResource = vim.event.ComputeResourceEventArgument(name=obj.parent.name, computeResource=obj.parent)
    if isinstance(obj, vim.VirtualMachine):
        event.vm = vim.event.VmEventArgument(name=obj.name, vm=obj)
        host = obj.runtime.host
        if host is not None:
            event.host = vim.event.HostEventArgument(name=host.name, host=host)
            event.computeResource = vim.event.ComputeResourceEventArgument(
                name=host.parent.name, computeResource=host.parent
            )
    if isinstance(obj, vim.Datastore):
        event.ds = vim.event.DatastoreEventArgument(name=obj.name, datastore=obj)
    return event


def alarm_status(si, args):
    entity = find(si, args.entity)
    alarm = vim.alarm.Alarm(args.alarm_moref, si._stub)
    event = vim.event.AlarmStatusChangedEvent(
        alarm=vim.event.AlarmEventArgument(name=args.alarm_name, alarm=alarm),
        source=vim.event.ManagedEntityEventArgument(name=si.content.rootFolder.name, entity=si.content.rootFolder),
        entity=vim.event.ManagedEntityEventArgument(name=entity.name, entity=entity),
        to=args.to,
        fullFormattedMessage=args.message
        or "Alarm '%s' on %s changed from %s to %s"
        % (args.alarm_name, entity.name, args.from_.capitalize(), args.to.capitalize()),
    )
    setattr(event, "from", args.from_)
    return common(event, entity)


def vm_migrated(si, args):
    vm = find(si, args.vm)
    source = find(si, args.source_host)
    if args.ha:
        cls = vim.event.VmRestartedOnAlternateHostEvent
    else:
        cls = vim.event.DrsVmMigratedEvent if args.drs else vim.event.VmMigratedEvent
    event = cls(sourceHost=vim.event.HostEventArgument(name=source.name, host=source))
    dc = datacenter_of(source)
    if dc is not None and not args.ha:  # VmRestartedOnAlternateHostEvent has no sourceDatacenter
        event.sourceDatacenter = vim.event.DatacenterEventArgument(name=dc.name, datacenter=dc)
    return common(event, vm)


def host_maintenance(si, args):
    host = find(si, args.host)
    if host.runtime.inMaintenanceMode:
        event = vim.event.EnteredMaintenanceModeEvent()
    else:
        event = vim.event.ExitMaintenanceModeEvent()
    return common(event, host)


def dvs_reconfigured(si, args):
    dvs = find(si, args.dvs)
    spec = vim.dvs.VmwareDistributedVirtualSwitch.ConfigSpec(
        configVersion=dvs.config.configVersion, maxMtu=args.max_mtu)
    event = vim.event.DvsReconfiguredEvent(
        configSpec=spec, dvs=vim.event.DvsEventArgument(name=dvs.name, dvs=dvs))
    return common(event, dvs)


def task(si, args):
    vm = find(si, args.vm)
    now = datetime.datetime.now(datetime.timezone.utc)
    info = vim.TaskInfo(
        key=args.task_key,
        task=vim.Task(args.task_key, si._stub),
        name=getattr(vim.VirtualMachine, args.method),
        descriptionId=args.description_id,
        entity=vm,
        entityName=vm.name,
        state="queued",
        cancelled=False,
        cancelable=True,
        queueTime=now,
        eventChainId=0,
        reason=vim.TaskReasonUser(userName=args.user),
    )
    return common(vim.event.TaskEvent(info=info), vm)


def any_value(text):
    from pyVmomi import VmomiSupport

    if text.lstrip("-").isdigit():
        return VmomiSupport.GetVmodlType("int")(int(text))
    if text in ("true", "false"):
        return text == "true"
    if "," in text:
        return VmomiSupport.GetVmodlType("string[]")(text.split(","))
    return text


def event_ex(si, args):
    vm = find(si, args.vm)
    arguments = []
    for arg in args.arg:
        key, _, value = arg.partition("=")
        arguments.append(vim.KeyAnyValue(key=key, value=any_value(value)))
    event = vim.event.EventEx(
        eventTypeId=args.type_id, severity="info", arguments=arguments,
        objectId=vm._moId, objectType=vim.VirtualMachine, objectName=vm.name)
    return common(event, vm)


def latest_key(si, type_name):
    collector = si.content.eventManager.CreateCollectorForEvents(vim.event.EventFilterSpec())
    try:
        collector.SetCollectorPageSize(50)
        keys = [e.key for e in collector.latestPage if type(e).__name__.split(".")[-1] == type_name]
    finally:
        collector.DestroyCollector()
    return max(keys) if keys else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("alarm-status")
    a.add_argument("--alarm-name", required=True)
    a.add_argument("--alarm-moref", default="alarm-1")
    a.add_argument("--entity", required=True)
    a.add_argument("--from", dest="from_", default="green")
    a.add_argument("--to", required=True)
    a.add_argument("--message")
    m = sub.add_parser("vm-migrated")
    m.add_argument("--vm", required=True)
    m.add_argument("--source-host", required=True)
    kind = m.add_mutually_exclusive_group()
    kind.add_argument("--drs", action="store_true")
    kind.add_argument("--ha", action="store_true")
    h = sub.add_parser("host-maintenance")
    h.add_argument("--host", required=True)
    d = sub.add_parser("dvs-reconfigured")
    d.add_argument("--dvs", required=True)
    d.add_argument("--max-mtu", type=int, default=9000)
    t = sub.add_parser("task")
    t.add_argument("--vm", required=True)
    t.add_argument("--task-key", default="task-100")
    t.add_argument("--method", default="ReconfigVM_Task")
    t.add_argument("--description-id", default="VirtualMachine.reconfigure")
    t.add_argument("--user", default="user")
    x = sub.add_parser("event-ex")
    x.add_argument("--vm", required=True)
    x.add_argument("--type-id", required=True)
    x.add_argument("--arg", action="append", default=[])
    args = p.parse_args()
    si = connect(args.url)
    try:
        event = {
            "alarm-status": alarm_status,
            "vm-migrated": vm_migrated,
            "host-maintenance": host_maintenance,
            "dvs-reconfigured": dvs_reconfigured,
            "task": task,
            "event-ex": event_ex,
        }[args.cmd](si, args)
        si.content.eventManager.PostEvent(eventToPost=event)
        type_name = type(event).__name__.split(".")[-1]
        print(json.dumps({"type": type_name, "key": latest_key(si, type_name)}), flush=True)
    finally:
        Disconnect(si)
    return 0


if __name__ == "__main__":
    sys.exit(main())

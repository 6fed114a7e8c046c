#!/usr/bin/env python3
"""eventbridge-bursting: the AWS Lambda function behind the EventBridge rule of the cloud-bursting
scenario. When the vSAN capacity alarm of an on-premises cluster turns yellow (or red), it
deploys a VMware Cloud on AWS SDDC to burst into, once: like the write-up's function it first
looks for an SDDC of the configured name and creates one only when there is none, so the alarm
firing again (or EventBridge delivering the event twice) deploys nothing more.

The event is the one EventBridge gives a rule's target: ``detail-type`` the vCenter event name,
``detail`` the router's whole CloudEvent (``subject``, ``data`` = the vSphere event).

VMware Cloud calls (documented at https://developer.broadcom.com/xapis/vmware-cloud-on-aws-api/):

  POST {CSP_URL}/csp/gateway/am/api/auth/api-tokens/authorize   refresh_token=<API token>
  GET  {VMC_URL}/vmc/api/orgs/{org}/sddcs                        (header csp-auth-token)
  POST {VMC_URL}/vmc/api/orgs/{org}/sddcs                        AwsSddcConfig -> Task

Configuration (the Lambda function's environment):

  VMC_ORG_ID            the organization (required)
  VMC_REFRESH_TOKEN     a VMware Cloud API token (a secret; required), or VMC_REFRESH_TOKEN_FILE
  SDDC_NAME             the SDDC to deploy, and to look for first (required)
  SDDC_CONFIG           JSON: the rest of the AwsSddcConfig, e.g. {"num_hosts": 2,
                        "provider": "AWS", "region": "EU_CENTRAL_1", "vpc_cidr": "10.2.0.0/16",
                        "account_link_sddc_config": [{"connected_account_id": "...",
                        "customer_subnet_ids": ["subnet-..."]}]} (required)
  ALARM_NAME            the alarm that bursts (default: the vSAN capacity alarm below)
  VMC_URL, CSP_URL      default https://vmc.vmware.com and https://console.cloud.vmware.com
  HTTP_TIMEOUT_SECONDS  per request (default 20)

Only the Python standard library is used, so the Lambda package is this one file
(build-lambda-zip.sh). Run it locally with an event on stdin:

  python3 handler.py < event.json        # prints the result as JSON; exit 1 when it failed

A failure raises, so Lambda's retries (two for an EventBridge target) and the rule target's
dead-letter queue apply. The API token and the access token are never logged.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_ALARM = "vSAN health alarm 'Cluster disk space utilization'"


def log(msg, **fields):
    """One JSON line (CloudWatch Logs keeps each line as a log event)."""
    print(json.dumps(dict({"msg": msg}, **fields), default=str), flush=True)


def setting(name, default=None):
    value = os.environ.get(name)
    if not value and os.environ.get(name + "_FILE"):
        with open(os.environ[name + "_FILE"], encoding="utf-8") as f:
            value = f.read().strip()
    if not value and default is None:
        raise RuntimeError("set %s" % name)
    return value or default


class Vmc:
    """The three VMware Cloud calls this function needs."""

    def __init__(self, vmc_url, csp_url, org, refresh_token, timeout):
        self.vmc_url = vmc_url.rstrip("/")
        self.csp_url = csp_url.rstrip("/")
        self.org = org
        self.refresh_token = refresh_token
        self.timeout = timeout
        self.access_token = None

    def _request(self, method, url, body=None, headers=None, form=False):
        data = None
        headers = dict(headers or {}, Accept="application/json")
        if body is not None:
            if form:
                data = urllib.parse.urlencode(body).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as e:
            # The error's text is the status line only; the body is VMware Cloud's message.
            detail = e.read()[:300].decode("utf-8", "replace")
            raise RuntimeError("%s %s: HTTP %d %s" % (method, urllib.parse.urlsplit(url).path, e.code, detail)) from None
        except urllib.error.URLError as e:
            raise RuntimeError("%s %s: %s" % (method, urllib.parse.urlsplit(url).path, type(e.reason).__name__)) from None

    def _token(self):
        if self.access_token is None:
            _, doc = self._request(
                "POST",
                self.csp_url + "/csp/gateway/am/api/auth/api-tokens/authorize",
                {"refresh_token": self.refresh_token},
                form=True,
            )
            self.access_token = doc["access_token"]
        return {"csp-auth-token": self.access_token}

    def sddcs(self):
        _, doc = self._request("GET", "%s/vmc/api/orgs/%s/sddcs" % (self.vmc_url, self.org), headers=self._token())
        return doc or []

    def create_sddc(self, config):
        _, task = self._request("POST", "%s/vmc/api/orgs/%s/sddcs" % (self.vmc_url, self.org), config, headers=self._token())
        return task


def is_burst_trigger(event, alarm_name):
    """Whether an EventBridge event is the alarm turning yellow or red (the rule already selects
    it; this keeps a wider rule, or a test invocation, from deploying anything)."""
    detail = event.get("detail") or {}
    data = detail.get("data") or {}
    return (
        detail.get("subject") == "AlarmStatusChangedEvent"
        and (data.get("Alarm") or {}).get("Name") == alarm_name
        and str(data.get("To", "")).lower() in ("yellow", "red")
    )


def lambda_handler(event, context=None, vmc=None):
    alarm_name = os.environ.get("ALARM_NAME") or DEFAULT_ALARM
    if not is_burst_trigger(event, alarm_name):
        log("ignored: not the bursting alarm turning yellow or red", id=event.get("id"), detail_type=event.get("detail-type"))
        return {"status": "ignored"}
    data = event["detail"]["data"]
    name = setting("SDDC_NAME")
    config = dict(json.loads(setting("SDDC_CONFIG")), name=name)
    if vmc is None:
        vmc = Vmc(
            setting("VMC_URL", "https://vmc.vmware.com"),
            setting("CSP_URL", "https://console.cloud.vmware.com"),
            setting("VMC_ORG_ID"),
            setting("VMC_REFRESH_TOKEN"),
            float(setting("HTTP_TIMEOUT_SECONDS", "20")),
        )
    cluster = (data.get("Entity") or {}).get("Name")
    # Idempotent, as the write-up's function: an SDDC of that name (deploying, ready, anything
    # but deleted) means the burst already happened.
    for sddc in vmc.sddcs():
        if sddc.get("name") == name and sddc.get("sddc_state") != "DELETED":
            log("an SDDC of that name exists; nothing to do", sddc=name, id=sddc.get("id"), state=sddc.get("sddc_state"), cluster=cluster)
            return {"status": "exists", "sddc": sddc.get("id"), "state": sddc.get("sddc_state")}
    task = vmc.create_sddc(config)
    log("deploying an SDDC", sddc=name, task=task.get("id"), cluster=cluster, alarm=alarm_name, to=data.get("To"))
    return {"status": "created", "task": task.get("id"), "sddc": task.get("resource_id")}


def main():
    event = json.load(sys.stdin)
    try:
        result = lambda_handler(event)
    except Exception as e:  # what Lambda would record as the invocation's error
        log("failed", error="%s: %s" % (type(e).__name__, e))
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

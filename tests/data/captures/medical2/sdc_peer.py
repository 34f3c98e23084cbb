"""IEEE 11073 SDC peer for record_medical2.sh: sdc11073 provider and consumer.

Usage: sdc_peer.py provider IP | sdc_peer.py consumer IP
The provider publishes a minimal BICEPS MDIB (one MDS, one VMD/channel/SpO2 metric) with a
synthetic DPWS identity and an ICU location; the consumer probes with WS-Discovery, then fetches
the DPWS metadata (GetMetadata over plain HTTP) and the MDIB. No patient context is set.
"""

from __future__ import annotations

import sys
import time
import uuid

from sdc11073.definitions_sdc import SdcV1Definitions
from sdc11073.location import SdcLocation
from sdc11073.mdib.providermdib import ProviderMdib
from sdc11073.provider import SdcProvider
from sdc11073.wsdiscovery import WSDiscovery
from sdc11073.xml_types.dpws_types import ThisDeviceType, ThisModelType

MDIB = b"""<?xml version="1.0" encoding="UTF-8"?>
<msg:GetMdibResponse xmlns:msg="http://standards.ieee.org/downloads/11073/11073-10207-2017/message"
  xmlns:pm="http://standards.ieee.org/downloads/11073/11073-10207-2017/participant"
  MdibVersion="0" SequenceId="urn:uuid:2ba6e1b1-1b6d-4a8a-9b1e-3f6f0e7c0001">
 <msg:Mdib MdibVersion="0" SequenceId="urn:uuid:2ba6e1b1-1b6d-4a8a-9b1e-3f6f0e7c0001">
  <pm:MdDescription DescriptionVersion="0">
   <pm:Mds Handle="mds0" DescriptorVersion="0">
    <pm:Type Code="69837"><pm:ConceptDescription Lang="en-US">MDC_DEV_METER_PHYSIO_MULTI_PARAM_MDS</pm:ConceptDescription></pm:Type>
    <pm:SystemContext Handle="sc0" DescriptorVersion="0">
     <pm:LocationContext Handle="lc0" DescriptorVersion="0"/>
    </pm:SystemContext>
    <pm:Vmd Handle="vmd0" DescriptorVersion="0">
     <pm:Type Code="69642"/>
     <pm:Channel Handle="ch0" DescriptorVersion="0">
      <pm:Type Code="69643"/>
      <pm:Metric xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="pm:NumericMetricDescriptor"
        Handle="spo2" DescriptorVersion="0" MetricCategory="Msrmt" MetricAvailability="Cont" Resolution="1">
       <pm:Type Code="150456"/>
       <pm:Unit Code="262688"/>
      </pm:Metric>
     </pm:Channel>
    </pm:Vmd>
   </pm:Mds>
  </pm:MdDescription>
 </msg:Mdib>
</msg:GetMdibResponse>
"""


def provider(ip: str) -> None:
    wsd = WSDiscovery(ip)
    wsd.start()
    model = ThisModelType(
        manufacturer="Example Medical Systems",
        manufacturer_url="http://med.example.test",
        model_name="VitalView SDC",
        model_number="VV-SDC-7",
        model_url="http://med.example.test/vv7",
        presentation_url="http://med.example.test/vv7/ui",
    )
    device = ThisDeviceType(
        friendly_name="ICU bed 12 monitor", firmware_version="7.3.1", serial_number="VV7-0012345"
    )
    mdib = ProviderMdib.from_string(MDIB)
    sdc = SdcProvider(
        wsd,
        model,
        device,
        mdib,
        epr=uuid.UUID("7f1c8a52-3d1e-4c55-9a8b-0a1b2c3d4e5f"),
        ssl_context_container=None,
    )
    sdc.start_all(start_rtsample_loop=False)
    sdc.set_location(SdcLocation(fac="HOSP1", bldng="B2", flr="3", poc="ICU", rm="12", bed="A"))
    time.sleep(25)
    sdc.stop_all()
    wsd.stop()


def consumer(ip: str) -> None:
    from sdc11073.consumer.consumerimpl import SdcConsumer

    wsd = WSDiscovery(ip)
    wsd.start()
    services = wsd.search_services(types=SdcV1Definitions.MedicalDeviceTypesFilter, timeout=5)
    print("found", [s.epr for s in services])
    for service in services:
        client = SdcConsumer.from_wsd_service(service, ssl_context_container=None)
        print("xaddrs", service.x_addrs)
        client.start_all()
        time.sleep(1)
        client.stop_all()
    wsd.stop()


if __name__ == "__main__":
    (provider if sys.argv[1] == "provider" else consumer)(sys.argv[2])

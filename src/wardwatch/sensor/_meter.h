/* What the flow meter's C parts share (_meter.c: the per-batch set-up, _flowtable.c: the table):
 * the transport codes of decode.py (T_*) and the meter's bits per packet (meter.py: B_*). */
#ifndef WARDWATCH_METER_H
#define WARDWATCH_METER_H

#define T_L2 0
#define T_TCP 1
#define T_UDP 2
#define N_TRANSPORTS 6
#define B_SYN_LO 1
#define B_SYN_HI 2
#define B_SYNACK_LO 4
#define B_SYNACK_HI 8
#define B_FIN 16
#define B_RST 32
#define B_END (B_FIN | B_RST)

#endif

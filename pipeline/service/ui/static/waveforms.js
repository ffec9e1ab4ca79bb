/* idc-pipeline web UI: the event page's waveform viewer (registered in IDC.eventPanels). */
"use strict";

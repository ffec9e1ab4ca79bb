/* idc-pipeline web UI: the operators' dashboard (#/dashboard, registered in IDC.PAGES). */
"use strict";

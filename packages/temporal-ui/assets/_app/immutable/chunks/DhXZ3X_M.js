const i=t=>{if(!t)return"";const r=t.split(":")[1];if(r)return r;const e=t.split(".")[1];return e||t};export{i as g};

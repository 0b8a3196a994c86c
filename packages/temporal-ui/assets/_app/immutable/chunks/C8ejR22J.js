const n=(s,...e)=>{const t={};for(const o of Object.keys(s))e.includes(o)||(t[o]=s[o]);return t};export{n as o};

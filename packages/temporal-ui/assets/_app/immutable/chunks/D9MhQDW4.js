import{J as o,K as f,E as i,a9 as p,ac as c,G as d,w as h}from"./DYX0w8bX.js";function _(e,n,...t){var s=e,r=p,a;o(()=>{r!==(r=n())&&(a&&(c(a),a=null),a=i(()=>r(s,...t)))},f),d&&(s=h)}export{_ as s};

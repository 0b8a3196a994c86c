const s=t=>(t==null?void 0:t.substring(0,8))==="https://",r=t=>(t==null?void 0:t.substring(0,7))==="http://",a=t=>r(t)||s(t);export{a,s as v};

import{aI as r,as as t}from"./DYX0w8bX.js";import{r as o}from"./DsexP6Wk.js";const e="CoreUser",s=o({namespaceWriteDisabled:()=>!1}),c=()=>r(e)?t(e):s;export{c};

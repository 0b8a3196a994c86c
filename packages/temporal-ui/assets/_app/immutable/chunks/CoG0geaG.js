const t=!0;export{t as B};

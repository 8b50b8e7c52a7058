# expect: NRD004@3
# bases: nginx:1.27=nginx
FROM nginx:1.27

# expect: none
# bases: team/app:1=4242
FROM team/app:1
CMD ["app"]

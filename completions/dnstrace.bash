_dnstrace() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="dnstrace"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        dnstrace)
            opts="-o -i -p -d -c -v -h -V --output --json --min-latency --id --rcode --errors --name --qtype --client --server --interface --pid --comm --pod --namespace --container --port --timeout --lookups --duration --count --verbose --max-pending --btf --reader --node-root --announcements --no-summary --columns --metrics --metrics-max-servers --metrics-namespaces --suspicious --resolvers --security-allow --suspicious-subdomains --suspicious-txt --suspicious-name-length --suspicious-label-length --suspicious-answer-size --suspicious-nxdomain --security-window --nxdomain-window --security-max-keys --no-security --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --output)
                    COMPREPLY=($(compgen -W "table text json" -- "${cur}"))
                    return 0
                    ;;
                -o)
                    COMPREPLY=($(compgen -W "table text json" -- "${cur}"))
                    return 0
                    ;;
                --min-latency)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rcode)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --qtype)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --client)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --server)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --interface)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -i)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -p)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --comm)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pod)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --namespace)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --container)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --port)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --duration)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -d)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --count)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -c)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-pending)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --btf)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --reader)
                    COMPREPLY=($(compgen -W "auto dynptr linear tracepoint" -- "${cur}"))
                    return 0
                    ;;
                --node-root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --columns)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics-max-servers)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics-namespaces)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --resolvers)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --security-allow)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --suspicious-subdomains)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --suspicious-txt)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --suspicious-name-length)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --suspicious-label-length)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --suspicious-answer-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --suspicious-nxdomain)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --security-window)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --nxdomain-window)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --security-max-keys)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _dnstrace -o nosort -o bashdefault -o default dnstrace
else
    complete -F _dnstrace -o bashdefault -o default dnstrace
fi
